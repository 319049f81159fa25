"""Helpers the tests share: an API client, hostile inputs. No tests here."""
