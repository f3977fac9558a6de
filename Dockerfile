# supportlog for docker-compose: the package and its dependencies, no embedded servers
# needed at run time (DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS point at real ones).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY consumers ./consumers
COPY replay ./replay
COPY supportlog ./supportlog
RUN pip install --no-cache-dir .
USER nobody
CMD ["supportlog", "run"]
