"""The static files storage `make serve` uses: hashed, pre-compressed names, looked up once."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ProductionStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage, remembering each name's URL.

    The manifest is read once when the process starts and never changes under it, so neither
    does the URL of a name. Working it out again (manifest look-up, urljoin, quoting) for
    every {% static %} cost a sixth of a message page.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name: str | None, force: bool = False) -> str:
        if force or name is None:
            return super().url(name, force)
        try:
            return self._urls[name]
        except KeyError:
            url = self._urls[name] = super().url(name)
            return url
