# Used by compose.yaml. Builds the one static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /subzero ./cmd/subzero && mkdir -p /out/var/lib/subzero

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /subzero /subzero
# The data directory, owned by nonroot so that a named volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/var/lib/subzero /var/lib/subzero
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/subzero"]
