# Builds every pertitle image from deploy/docker/Dockerfile with the runtime
# each binary needs: ffmpeg only for ingest and encoder-dispatch, the static
# (distroless) runtime for the rest. Run from the repository root:
#
#   docker buildx bake --print                     # what would be built
#   VERSION=v1.2.3 docker buildx bake --push       # every image, tagged and labelled v1.2.3
#   docker buildx bake catalog --load              # one image into the local engine
#
# .github/workflows/images.yml publishes them. deploy/docker/bake_test.go checks
# this file against the Dockerfile and the services (make test).

variable "VERSION" {
  # The version stamped into the binaries (svc.Version) and the images' labels.
  default = "dev"
}

variable "REVISION" {
  # The git commit, for the org.opencontainers.image.revision label.
  default = ""
}

variable "REGISTRY" {
  default = "ghcr.io/pertitle"
}

variable "PLATFORMS" {
  # Comma-separated; the Dockerfile cross-compiles Go on the build platform.
  default = "linux/amd64,linux/arm64"
}

group "default" {
  targets = ["ingest", "encoder-dispatch", "webhook-receiver", "catalog", "issuer", "cli"]
}

target "_common" {
  context    = "."
  dockerfile = "deploy/docker/Dockerfile"
  platforms  = split(",", PLATFORMS)
  args = {
    VERSION = VERSION
  }
  labels = {
    "org.opencontainers.image.version"  = VERSION
    "org.opencontainers.image.revision" = REVISION
    "org.opencontainers.image.source"   = "https://github.com/pertitle/pertitle"
  }
}

# ingest probes uploads with ffprobe and decodes a stretch with ffmpeg.
target "ingest" {
  inherits = ["_common"]
  target   = "runtime-ffmpeg"
  args     = { SERVICE = "ingest" }
  tags     = ["${REGISTRY}/ingest:${VERSION}"]
}

# encoder-dispatch runs ffmpeg and ffprobe (local backend, per-title analysis).
target "encoder-dispatch" {
  inherits = ["_common"]
  target   = "runtime-ffmpeg"
  args     = { SERVICE = "encoder-dispatch" }
  tags     = ["${REGISTRY}/encoder-dispatch:${VERSION}"]
}

target "webhook-receiver" {
  inherits = ["_common"]
  target   = "runtime-static"
  args     = { SERVICE = "webhook-receiver" }
  tags     = ["${REGISTRY}/webhook-receiver:${VERSION}"]
}

target "catalog" {
  inherits = ["_common"]
  target   = "runtime-static"
  args     = { SERVICE = "catalog" }
  tags     = ["${REGISTRY}/catalog:${VERSION}"]
}

# The local OIDC issuer: development and compose only (production: Cognito).
target "issuer" {
  inherits = ["_common"]
  target   = "runtime-static"
  args     = { SERVICE = "issuer" }
  tags     = ["${REGISTRY}/issuer:${VERSION}"]
}

# The CLI, for the `pertitle provision` job.
target "cli" {
  inherits = ["_common"]
  target   = "runtime-static"
  args     = { SERVICE = "pertitle" }
  tags     = ["${REGISTRY}/cli:${VERSION}"]
}
