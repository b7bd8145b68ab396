# distkv in a container: a static binary (CGO_ENABLED=0) on an empty image.
# No base image is pulled; build the binary on the host first:
#   make docker        (CGO_ENABLED=0 go build, then docker build)
FROM scratch
COPY bin/distkv /distkv
ENV DISTKV_DATA_DIR=/data
VOLUME /data
EXPOSE 8090 9090
ENTRYPOINT ["/distkv", "server"]
