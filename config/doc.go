// Package config assembles Sluice's configuration with koanf: defaults in
// code, then an optional YAML file, then SLUICE_* environment variables,
// then command-line flags, each layer over the last. Unknown keys and bad
// values fail with a message that names the key.
package config
