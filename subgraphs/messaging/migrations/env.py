from shared.migrations import run_env
from subgraphs.messaging import notification_models  # noqa: F401  (registers its tables)
from subgraphs.messaging.models import Base

run_env(Base.metadata)
