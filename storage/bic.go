package storage

import (
	"reflect"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/blobinfocache"
	"go.podman.io/image/v5/types"
)

// uncompressedName is containers/image's name for an uncompressed blob
// in its blob info cache.
const uncompressedName = "uncompressed"

// recordBlob tells containers/image's blob info cache (the store's, which
// push reads) what a pull learnt of a layer blob: the uncompressed digest
// of a compressed blob, that the registry repository it came from has it,
// and how it is compressed. The store keeps layers uncompressed, so a
// push offers uncompressed digests; with these records copy finds that the
// registry has the compressed blob already and skips (or mounts) it, as
// podman's push does after its pull (copy.Image records them there; Pull
// does not use copy.Image). compressor "" records no compressor.
func (s *Store) recordBlob(ref types.ImageReference, compressed, uncompressed digest.Digest, compressor string) {
	cache := blobinfocache.DefaultCache(s.sys)
	if compressed != uncompressed {
		cache.RecordDigestUncompressedPair(compressed, uncompressed)
	}
	if named := ref.DockerReference(); named != nil && ref.Transport().Name() == "docker" {
		// docker's scope and location (docker/cache.go): the registry,
		// and the repository in it.
		cache.RecordKnownLocation(ref.Transport(), types.BICTransportScope{Opaque: reference.Domain(named)}, compressed, types.BICLocationReference{Opaque: named.Name()})
	}
	if compressor != "" {
		recordCompressor(cache, compressed, compressor)
	}
}

// recordCompressor records a blob's compressor. Without it copy does not
// substitute a compressed blob for an uncompressed one; the method takes a
// type of containers/image's internal packages, so it is called through
// reflection, and skipped if a later version changes it.
func recordCompressor(cache types.BlobInfoCache, d digest.Digest, compressor string) {
	m := reflect.ValueOf(cache).MethodByName("RecordDigestCompressorData")
	if !m.IsValid() || m.Type().NumIn() != 2 || m.Type().In(0) != reflect.TypeOf(d) || m.Type().In(1).Kind() != reflect.Struct {
		return
	}
	data := reflect.New(m.Type().In(1)).Elem()
	base, specific := data.FieldByName("BaseVariantCompressor"), data.FieldByName("SpecificVariantCompressor")
	if !base.IsValid() || base.Kind() != reflect.String || !specific.IsValid() || specific.Kind() != reflect.String {
		return
	}
	base.SetString(compressor)
	specific.SetString("unknown") // the base variant itself
	m.Call([]reflect.Value{reflect.ValueOf(d), data})
}
