import uvicorn

from services.rebooking.app import RebookingSettings, create_app

settings = RebookingSettings()
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
