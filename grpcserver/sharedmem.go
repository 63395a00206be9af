package grpcserver

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// Triton's system shared-memory extension: a client on the same host puts
// tensors in a POSIX shared-memory object (shm_open, so /dev/shm), registers
// a region of it by name, and names the region in an input's or output's
// parameters instead of sending the bytes.

// region is one registered region, mapped for as long as it is registered
// and any call still reads or writes it.
type region struct {
	name, key    string
	offset, size uint64
	mapping      []byte // from the page the region starts in
	data         []byte // the region itself, inside mapping
	users        int    // calls holding it; the set's lock guards users and gone
	gone         bool   // unregistered: unmapped when the last user leaves
}

// regions are the registered regions, by name.
type regions struct {
	mu     sync.Mutex // guards byName and each region's users and gone
	byName map[string]*region
}

// register maps key's [offset, offset+size) as name.
func (rs *regions) register(name, key string, offset, size uint64) error {
	if name == "" || size == 0 {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory: name %q, byte_size %d; expected a name and a size above 0", name, size)
	}
	if !strings.HasPrefix(key, "/") || strings.Contains(key[1:], "/") || len(key) < 2 {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q: key %q, expected a shm_open name such as /input_data", name, key)
	}
	f, err := os.OpenFile("/dev/shm"+key, os.O_RDWR, 0)
	if err != nil {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q: opening key %q: %v", name, key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q: %v", name, err)
	}
	if offset+size < offset || uint64(st.Size()) < offset+size {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q: offset %d + byte_size %d runs past key %q's %d bytes", name, offset, size, key, st.Size())
	}
	page := uint64(os.Getpagesize())
	start := offset &^ (page - 1)
	m, err := syscall.Mmap(int(f.Fd()), int64(start), int(offset-start+size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q: mapping key %q: %v", name, key, err)
	}
	r := &region{name: name, key: key, offset: offset, size: size, mapping: m, data: m[offset-start:]}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.byName == nil {
		rs.byName = map[string]*region{}
	}
	if _, ok := rs.byName[name]; ok {
		_ = syscall.Munmap(m)
		return tensor.Errorf(tensor.InvalidArgument, "system shared memory %q is already registered; unregister it first", name)
	}
	rs.byName[name] = r
	return nil
}

// unregister drops name, or every region when name is "".
func (rs *regions) unregister(name string) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if name != "" && rs.byName[name] == nil {
		return tensor.Errorf(tensor.NotFound, "system shared memory %q is not registered", name)
	}
	for n, r := range rs.byName {
		if name == "" || n == name {
			delete(rs.byName, n)
			r.gone = true
			rs.unmapIfIdle(r)
		}
	}
	return nil
}

// unmapIfIdle unmaps a region no longer registered nor used; under mu.
func (rs *regions) unmapIfIdle(r *region) {
	if r.gone && r.users == 0 && r.mapping != nil {
		_ = syscall.Munmap(r.mapping)
		r.mapping, r.data = nil, nil
	}
}

// status lists name's region, or every region when name is "".
func (rs *regions) status(name string) (map[string]*tritonpb.SystemSharedMemoryStatusResponse_RegionStatus, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := map[string]*tritonpb.SystemSharedMemoryStatusResponse_RegionStatus{}
	for n, r := range rs.byName {
		if name == "" || n == name {
			out[n] = &tritonpb.SystemSharedMemoryStatusResponse_RegionStatus{Name: n, Key: r.key, Offset: r.offset, ByteSize: r.size}
		}
	}
	if name != "" && len(out) == 0 {
		return nil, tensor.Errorf(tensor.NotFound, "system shared memory %q is not registered", name)
	}
	return out, nil
}

// use is the part of a region a tensor names in its parameters
// (shared_memory_region, shared_memory_byte_size, shared_memory_offset),
// held for the call until release. ok is false when the tensor names none.
func (rs *regions) use(what, name string, p map[string]*tritonpb.InferParameter, held *[]*region) (data []byte, ok bool, err error) {
	rp, ok := p["shared_memory_region"]
	if !ok {
		return nil, false, nil
	}
	size, offset := p["shared_memory_byte_size"].GetInt64Param(), p["shared_memory_offset"].GetInt64Param()
	regionName := rp.GetStringParam()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.byName[regionName]
	switch {
	case r == nil:
		return nil, true, tensor.Errorf(tensor.InvalidArgument, "%s %q: shared memory region %q is not registered", what, name, regionName)
	case size < 0 || offset < 0 || uint64(offset)+uint64(size) > r.size:
		return nil, true, tensor.Errorf(tensor.InvalidArgument, "%s %q: shared_memory_offset %d + shared_memory_byte_size %d runs past region %q's %d bytes", what, name, offset, size, regionName, r.size)
	}
	r.users++
	*held = append(*held, r)
	return r.data[offset : offset+size], true, nil
}

// release gives back the regions a call held.
func (rs *regions) release(held []*region) {
	if len(held) == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range held {
		r.users--
		rs.unmapIfIdle(r)
	}
}

// closeAll unmaps every region at shutdown, once no call runs.
func (rs *regions) closeAll() { _ = rs.unregister("") }

// SystemSharedMemoryStatus lists the registered regions.
func (s *Server) SystemSharedMemoryStatus(_ context.Context, in *tritonpb.SystemSharedMemoryStatusRequest) (*tritonpb.SystemSharedMemoryStatusResponse, error) {
	st, err := s.shm.status(in.Name)
	if err != nil {
		return nil, err
	}
	return &tritonpb.SystemSharedMemoryStatusResponse{Regions: st}, nil
}

// SystemSharedMemoryRegister maps a region of a shared-memory object.
func (s *Server) SystemSharedMemoryRegister(_ context.Context, in *tritonpb.SystemSharedMemoryRegisterRequest) (*tritonpb.SystemSharedMemoryRegisterResponse, error) {
	if err := s.shm.register(in.Name, in.Key, in.Offset, in.ByteSize); err != nil {
		return nil, err
	}
	return &tritonpb.SystemSharedMemoryRegisterResponse{}, nil
}

// SystemSharedMemoryUnregister drops one region, or all ("" name).
func (s *Server) SystemSharedMemoryUnregister(_ context.Context, in *tritonpb.SystemSharedMemoryUnregisterRequest) (*tritonpb.SystemSharedMemoryUnregisterResponse, error) {
	if err := s.shm.unregister(in.Name); err != nil {
		return nil, err
	}
	return &tritonpb.SystemSharedMemoryUnregisterResponse{}, nil
}
