package grpcserver

// ToRequest lets the external tests check typed contents without a model
// per data type.
var ToRequest = toRequest
