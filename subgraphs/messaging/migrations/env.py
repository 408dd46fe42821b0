from shared.migrations import run_env
from subgraphs.messaging.models import Base

run_env(Base.metadata)
