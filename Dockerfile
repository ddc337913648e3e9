# syntax=docker/dockerfile:1
# fathom-agent container image: a static-stdlib release build on a small glibc runtime.
#
#   docker build -t fathom-agent .
#
# Build stage: the Swift toolchain image matching the project's Swift version.
FROM swift:6.3.1-bookworm AS build
WORKDIR /src
# zlib headers for the CZlib target (gzip).
RUN apt-get update \
    && apt-get install -y --no-install-recommends zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
# Resolve dependencies in their own layer: it is reused until Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# Release build with the Swift standard library linked in, so the runtime image needs no
# toolchain; then strip the symbols (crash backtraces still name functions via the backtracer).
RUN swift build -c release --product fathom-agent --static-swift-stdlib \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/fathom-agent" /out/ \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /out/swift-backtrace \
    && strip /out/fathom-agent \
    # The binary must not need FoundationNetworking, libcurl or libxml2.
    && ! ldd /out/fathom-agent | grep -E 'FoundationNetworking|libcurl|libxml2' \
    && /out/fathom-agent version

# Runtime stage: Debian slim has the glibc, libstdc++ and zlib the binary links (see `ldd`).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g libstdc++6 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/fathom-agent /usr/local/bin/fathom-agent
COPY --from=build /out/swift-backtrace /usr/libexec/swift/linux/swift-backtrace-static
# Crash reports: the backtracer prints a symbolicated backtrace to stderr on a crash.
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=mentioned,interactive=no,swift-backtrace=/usr/libexec/swift/linux/swift-backtrace-static
# The chart runs as 65532 with a read-only root filesystem; the spool is an emptyDir.
USER 65532:65532
EXPOSE 9990
ENTRYPOINT ["fathom-agent", "run"]
