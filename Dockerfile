# One image for the API, the migrate job and the workers.
# CPU by default; the GPU worker image passes TORCH_INDEX (README, "GPU workers").
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX" --extra-index-url https://pypi.org/simple torch==2.13.0 \
 && pip install --no-cache-dir '.[worker]' flower
ENV GRADATLAS_HOME=/data
EXPOSE 8000
CMD ["gradatlas", "up", "--host", "0.0.0.0"]
