# One image for both commands: `nestor manager` (the operator) and
# `nestor syncer` (a virtual cluster's syncer).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/nestor ./cmd

# Static binary, no shell, no package manager, not root.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/nestor /nestor
USER 65532:65532
ENTRYPOINT ["/nestor"]
