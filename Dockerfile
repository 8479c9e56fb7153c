# nst in a container, for sweeps on Kubernetes (deploy/kubernetes/) or
# anywhere else:
#
#   docker build -t nst .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/runs:/opt/nst/runs" nst run -c configs/demo.yaml
#
# (--user makes the outputs yours; the image's own user is 10001, which the
# Kubernetes Job's fsGroup lets write the shared volume.)
#
# The build stage installs ONNX Runtime with the project's own script
# (scripts/install-onnxruntime.sh, from npm, SHA-256 checked) and builds nst
# with cgo, which it needs to load the library. The runtime stage holds the
# binary, the library and the configs; nst finds the library in
# /opt/nst/onnxruntime/lib beside its own folder.

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/install-onnxruntime.sh
RUN CGO_ENABLED=1 go build -trimpath -o /out/nst ./cmd/nst

FROM debian:bookworm-slim
# ONNX Runtime needs libstdc++ and libgcc, which the base image has.
WORKDIR /opt/nst
COPY --from=build /src/onnxruntime/lib/ /opt/nst/onnxruntime/lib/
COPY --from=build /out/nst /opt/nst/bin/nst
COPY configs/ /opt/nst/configs/
# Any user id can write the graph cache and the default run folder.
RUN mkdir -p /var/cache/nst /opt/nst/runs && chmod 1777 /var/cache/nst /opt/nst/runs
ENV PATH=/opt/nst/bin:$PATH \
    XDG_CACHE_HOME=/var/cache/nst
USER 10001:10001
ENTRYPOINT ["nst"]
CMD ["--help"]
