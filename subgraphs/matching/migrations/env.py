from shared.migrations import run_env
from subgraphs.matching.models import Base

run_env(Base.metadata)
