package grpcserver

import (
	"context"
	"strings"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// The model repository extension: the admin token's to call, as HTTP's
// /v2/repository is.

func (s *Server) admin(ctx context.Context) error {
	return s.gate.AuthorizeAdmin([]byte(firstMetadata(ctx, "authorization")), s.cfg.Addr)
}

// RepositoryIndex lists every model with each version's state.
func (s *Server) RepositoryIndex(ctx context.Context, in *tritonpb.RepositoryIndexRequest) (*tritonpb.RepositoryIndexResponse, error) {
	if err := s.admin(ctx); err != nil {
		return nil, err
	}
	out := &tritonpb.RepositoryIndexResponse{}
	for _, e := range s.models.Index(in.Ready) {
		out.Models = append(out.Models, &tritonpb.RepositoryIndexResponse_ModelIndex{Name: e.Name, Version: e.Version, State: e.State, Reason: e.Reason})
	}
	return out, nil
}

// RepositoryModelLoad loads or reloads a model from the repository folder,
// with Triton's "config" parameter (a configuration to use instead of the
// folder's) and Sluice's "rollout" ("canary": load the new version as a
// canary and start the model's default rollout; "now", the default).
func (s *Server) RepositoryModelLoad(ctx context.Context, in *tritonpb.RepositoryModelLoadRequest) (*tritonpb.RepositoryModelLoadResponse, error) {
	if err := s.admin(ctx); err != nil {
		return nil, err
	}
	var config []byte
	canary := false
	for k, p := range in.Parameters {
		switch {
		case k == "config":
			switch v := p.GetParameterChoice().(type) {
			case *tritonpb.ModelRepositoryParameter_StringParam:
				config = []byte(v.StringParam)
			case *tritonpb.ModelRepositoryParameter_BytesParam:
				config = v.BytesParam
			default:
				return nil, tensor.Errorf(tensor.InvalidArgument, "parameters[\"config\"]: expected the model configuration (JSON or YAML) as a string or bytes")
			}
		case k == "rollout":
			v := p.GetStringParam()
			if v != "canary" && v != "now" {
				return nil, tensor.Errorf(tensor.InvalidArgument, "parameters[\"rollout\"]: %q, expected \"canary\" (start the model's default rollout) or \"now\"", v)
			}
			canary = v == "canary"
		case strings.HasPrefix(k, "file:"):
			return nil, tensor.Errorf(tensor.InvalidArgument, "parameters[%q]: model files cannot be sent through the API; put them in the repository folder and load the model", k)
		default:
			return nil, tensor.Errorf(tensor.InvalidArgument, "parameters[%q]: unknown; expected \"config\" or \"rollout\"", k)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ControlTimeout)
	defer cancel()
	var err error
	if canary {
		err = s.rollouts.LoadAsCanary(cctx, in.ModelName, config)
	} else {
		err = s.models.Load(cctx, in.ModelName, config)
	}
	if err != nil {
		return nil, err
	}
	return &tritonpb.RepositoryModelLoadResponse{}, nil
}

// RepositoryModelUnload drains and unloads every version of a model;
// unload_dependents is accepted, as Sluice has no ensembles.
func (s *Server) RepositoryModelUnload(ctx context.Context, in *tritonpb.RepositoryModelUnloadRequest) (*tritonpb.RepositoryModelUnloadResponse, error) {
	if err := s.admin(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ControlTimeout)
	defer cancel()
	if err := s.models.Unload(cctx, in.ModelName); err != nil {
		return nil, err
	}
	return &tritonpb.RepositoryModelUnloadResponse{}, nil
}
