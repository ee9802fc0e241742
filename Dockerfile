# One Dockerfile, one image per role: EXTRAS picks what the image installs.
#   server  the API and the migration job: no PyTorch
#   worker  the Celery workers, the scheduler and Flower: PyTorch (CPU by default; the
#           GPU worker passes TORCH_INDEX, README "GPU workers")
FROM python:3.11-slim
ARG EXTRAS=server
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml setup.py README.md alembic.ini ./
COPY gradatlas ./gradatlas
COPY service ./service
COPY worker ./worker
COPY migrations ./migrations
COPY examples ./examples
RUN case ",$EXTRAS," in \
      *,worker,*|*,probe,*) pip install --no-cache-dir --index-url "$TORCH_INDEX" torch==2.13.0 ;; \
    esac \
 && pip install --no-cache-dir ".[$EXTRAS]" \
 && case ",$EXTRAS," in *,worker,*) pip install --no-cache-dir flower==2.2.0 ;; esac
# The services run as an unprivileged user that owns only /data (a new named
# volume takes the ownership of the folder it is mounted on).
RUN useradd --system --uid 10001 --create-home --home-dir /home/gradatlas gradatlas \
 && mkdir -p /data && chown gradatlas:gradatlas /data
USER gradatlas
ENV GRADATLAS_HOME=/data
EXPOSE 8000
# Both images' default command is `gradatlas up`, which serves the API on 8000,
# so /readyz (database and broker reachable) is the check for either. The
# compose services that run something else (celery workers, the scheduler,
# Flower) override it with their own check in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["gradatlas", "up", "--host", "0.0.0.0"]
