# One image for the three deployables; the chart picks the entry point:
#   runner:   node runner/src/main.ts   (the default)
#   operator: node operator/src/main.ts
#   api:      node api/src/main.ts
# Node 24 runs the TypeScript sources directly (type stripping), so there is no
# build step. Not built or run by the test suite: the machines this project is
# developed on have no Docker engine. The test bed maps these image names to the
# same entry points (test/bed/local-node/images.ts).
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no test tooling in the image. The claude CLI's install script
# fetches its platform binary from the npm registry.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY crds ./crds
COPY packages ./packages
COPY runner ./runner
COPY operator ./operator
COPY api ./api
ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH
# Non-root, as the restricted Pod Security profile requires.
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["runner/src/main.ts"]
