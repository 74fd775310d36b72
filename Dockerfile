FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY workflows workflows
COPY activities activities
COPY adapters adapters
COPY policies policies
COPY gateway gateway
COPY handrail handrail
RUN pip install --no-cache-dir .
ENV HANDRAIL_DATA_DIR=/data
CMD ["handrail", "worker"]
