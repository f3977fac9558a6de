# supportlog for docker-compose: the package and its dependencies, no embedded servers
# needed at run time (DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS point at real ones).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY eventlog ./eventlog
COPY consumers ./consumers
COPY replay ./replay
COPY supportlog ./supportlog
RUN pip install --no-cache-dir .
# SUPPORTLOG_HOME: where the log key is created on first use (docker-compose.yml keeps it
# on a volume; or set SUPPORTLOG_LOG_KEY), owned by the user the program runs as.
RUN mkdir -p /var/lib/supportlog && chown nobody /var/lib/supportlog
ENV SUPPORTLOG_HOME=/var/lib/supportlog
USER nobody
CMD ["supportlog", "run"]
