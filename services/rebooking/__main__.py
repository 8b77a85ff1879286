import uvicorn

from services.rebooking.bootstrap import create_app
from services.rebooking.config import RebookingSettings
from shared.settings import load

settings = load(RebookingSettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
