from shared.migrations import run_env
from subgraphs.events.models import Base

run_env(Base.metadata)
