// Package fakes3 serves an S3-compatible store in memory (gofakes3), for
// the replicas of the tests and the bench.
package fakes3

import (
	"net/http/httptest"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an S3-compatible store in memory.
type Server struct {
	*httptest.Server
	Bucket string
}

// Env are the AWS_* variables a replica on an Server reads.
// AWS_CA_BUNDLE is emptied: Litestream's S3 client cannot use it.
var Env = []string{"AWS_ACCESS_KEY_ID=test-access-key", "AWS_SECRET_ACCESS_KEY=test-secret-key", "AWS_REGION=us-east-1", "AWS_CA_BUNDLE="}

// NewServer serves an empty bucket.
func New(bucket string) (*Server, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, err
	}
	return &Server{Server: httptest.NewServer(gofakes3.New(backend).Server()), Bucket: bucket}, nil
}

// ReplicaURL is the REPLICA_URL of a replica under path in the bucket.
func (s *Server) ReplicaURL(path string) string {
	return "s3://" + s.Bucket + "/" + path + "?endpoint=" + s.URL + "&forcePathStyle=true"
}
