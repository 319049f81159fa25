"""The Jinja2 environment of the templates under ``<app>/jinja2/``: the board's filters, as in Django's templates."""

from jinja2 import Environment

from messages_app.templatetags.board import board_url, clock, message_url, when


def environment(**options) -> Environment:
    env = Environment(**options)
    env.filters.update(message_url=message_url, board_url=board_url, when=when, clock=clock)
    return env
