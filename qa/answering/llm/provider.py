"""Provider wiring: the chat model the ``QA_LLM_*`` settings describe."""

from __future__ import annotations

import os

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import SecretStr

from core.errors import ConfigError
from core.settings import LLMSettings


def make_chat_model(settings: LLMSettings) -> BaseChatModel:
    """Build the chat model the ``QA_LLM_*`` settings describe.

    ``openai`` covers any OpenAI-compatible server through ``QA_LLM_BASE_URL``.

    Raises:
        ConfigError: the model name, API key or client package is missing.

    """
    if not settings.model:
        raise ConfigError("QA_ANSWERER=llm needs QA_LLM_MODEL (the chat model's name).")
    timeout = settings.timeout
    if settings.provider == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "QA_LLM_PROVIDER=ollama needs langchain-ollama: pip install 'cited-qa[llm]'."
            ) from exc
        kwargs: dict[str, object] = {
            "model": settings.model,
            "temperature": 0.0,
            "client_kwargs": {"timeout": timeout},
        }
        if settings.base_url:
            kwargs["base_url"] = settings.base_url
        return ChatOllama(**kwargs)  # type: ignore[arg-type]
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "QA_LLM_PROVIDER=openai needs langchain-openai: pip install 'cited-qa[llm]'."
        ) from exc
    api_key = (settings.api_key.get_secret_value() if settings.api_key else None) or os.environ.get(
        "OPENAI_API_KEY"
    )
    if not api_key:
        if not settings.base_url:
            raise ConfigError(
                "QA_LLM_PROVIDER=openai needs QA_LLM_API_KEY (or QA_LLM_BASE_URL for a local "
                "OpenAI-compatible server)."
            )
        api_key = "unused"  # local OpenAI-compatible servers usually ignore the key
    return ChatOpenAI(
        base_url=settings.base_url,
        api_key=SecretStr(api_key),
        model=settings.model,
        timeout=timeout,
        max_retries=0,
    )
