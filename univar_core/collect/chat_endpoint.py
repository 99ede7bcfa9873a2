"""Any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, Ollama, TGI, OpenAI ...)
through the `openai` package.

The API key is read from an environment variable named by the user and lives only in the client:
it is never recorded (``describe`` gives the host without credentials) and every error message is
redacted. The client's own retries are off (``max_retries=0``): :mod:`retry` decides, so the
collector can say how often it retried and fail with one clear message after the last attempt.
"""
from __future__ import annotations

import os

from univar_core.collect.backends import Completion, GenerationSettings, Prompt
from univar_core.collect.errors import (
    EndpointConfigError,
    EndpointUnavailableError,
    endpoint_host,
    redact,
)
from univar_core.collect.retry import RetriesExhausted, RetryPolicy, call_with_retries

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "EMPTY"   # local servers (vLLM, llama.cpp, Ollama) ignore the key, the client wants one


def _status(err: BaseException) -> int | None:
    return getattr(err, "status_code", None)


def is_transient(err: BaseException) -> bool:
    """Rate limits, server errors, timeouts and dropped or refused connections are worth retrying."""
    import openai

    if isinstance(err, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = _status(err)
    return status is not None and (status == 429 or status >= 500)


def _never_connected(err: BaseException) -> bool:
    """A refused connection or unknown host (httpx's ConnectError under openai's APIConnectionError)."""
    cause = err.__cause__ or err.__context__
    return type(cause).__name__ == "ConnectError" or "ConnectError" in repr(cause)


def retry_after_s(err: BaseException) -> float | None:
    response = getattr(err, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ChatEndpoint:
    """AnswerBackend for a chat-completions endpoint: one prompt per request, ``concurrency`` at once."""

    kind = "endpoint"
    batch_size = 1

    def __init__(self, base_url: str, model: str, *, api_key_env: str = DEFAULT_KEY_ENV,
                 concurrency: int = 8, timeout_s: float = 60.0, retry: RetryPolicy | None = None,
                 on_retry=None):
        import openai

        if not str(base_url).startswith(("http://", "https://")):
            raise EndpointConfigError(f"endpoint {base_url!r} is not an http(s) URL (e.g. "
                                      "http://localhost:8000/v1)")
        if not str(model).strip():
            raise EndpointConfigError("give the model name the endpoint serves (--model)")
        if concurrency < 1:
            raise EndpointConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.base_url = str(base_url).rstrip("/")
        self.model = str(model).strip()
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._key = os.environ.get(api_key_env) or NO_KEY
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self._key, max_retries=0,
                                     timeout=self.timeout_s)
        self.n_succeeded = 0
        self.token_param = "max_tokens"

    def describe(self) -> dict:
        return {"backend": self.kind, "endpoint": endpoint_host(self.base_url), "model": self.model,
                "api_key_env": self.api_key_env, "api_key_set": self._key != NO_KEY,
                "concurrency": self.concurrency, "timeout_s": self.timeout_s,
                "retries": self.retry.retries}

    def complete(self, prompts: list[Prompt], settings: GenerationSettings) -> list[Completion]:
        return [self._one(p, settings) for p in prompts]

    def _one(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        messages = ([{"role": "system", "content": prompt.system}] if prompt.system else []) + \
                   [{"role": "user", "content": prompt.question}]

        def call():
            return self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=settings.temperature, top_p=settings.top_p,
                seed=prompt.seed, **{self.token_param: settings.max_tokens})

        for attempt in range(2):
            try:
                resp = call_with_retries(call, self.retry, is_transient=self._is_transient,
                                         retry_after=retry_after_s, on_retry=self.on_retry)
                break
            except RetriesExhausted as err:
                raise self._final_error(err.last, err.attempts) from None
            except Exception as err:  # noqa: BLE001 - turned into a message the user can act on
                if attempt == 0 and self._wants_completion_tokens(err):
                    continue
                raise self._config_error(err) from None
        self.n_succeeded += 1
        choice = resp.choices[0] if resp.choices else None
        usage = getattr(resp, "usage", None)
        return Completion(text=(choice.message.content or "") if choice is not None else "",
                          finish_reason=getattr(choice, "finish_reason", None),
                          prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None))

    def _wants_completion_tokens(self, err: BaseException) -> bool:
        """OpenAI's newer models refuse `max_tokens` (HTTP 400) and want `max_completion_tokens`, which
        many other servers do not know: send the old name first, switch once when told to."""
        if _status(err) == 400 and "max_completion_tokens" in self._server_says(err):
            self.token_param = "max_completion_tokens"    # requests in flight may each have been told so
            return True
        return False

    def _is_transient(self, err: BaseException) -> bool:
        """As :func:`is_transient`, except that an endpoint never reached in this run (refused, unknown
        host) fails at once: that is a wrong URL far more often than a server restarting."""
        import openai

        if self.n_succeeded == 0 and isinstance(err, openai.APIConnectionError) \
                and not isinstance(err, openai.APITimeoutError) and _never_connected(err):
            return False
        return is_transient(err)

    # -- messages -------------------------------------------------------------------------------
    def _server_says(self, err: BaseException) -> str:
        body = getattr(err, "body", None)
        if isinstance(body, dict):
            inner = body.get("error", body)
            text = inner.get("message") if isinstance(inner, dict) else inner
        else:
            text = getattr(err, "message", None) or str(err)
        return redact(str(text or "")[:300], self._key)

    def _where(self) -> str:
        return endpoint_host(self.base_url)

    def _config_error(self, err: BaseException) -> Exception:
        import openai

        status = _status(err)
        where = self._where()
        if isinstance(err, openai.APIConnectionError):
            return EndpointConfigError(f"cannot connect to {where}: check --endpoint (is the server running? "
                                       "the URL usually ends in /v1)")
        if status in (401, 403):
            hint = (f"set {self.api_key_env} to a valid key" if self._key == NO_KEY
                    else f"the key in {self.api_key_env} was not accepted")
            return EndpointConfigError(f"{where} refused the request (HTTP {status}): {hint}")
        if status == 404:
            return EndpointConfigError(
                f"{where} answered 404 for model '{self.model}': the model name is not served there or the "
                f"URL is not the API's base (it usually ends in /v1). Server said: {self._server_says(err)}")
        if status is not None:
            return EndpointConfigError(f"{where} rejected the request (HTTP {status}): {self._server_says(err)}")
        return EndpointConfigError(f"{where}: {type(err).__name__}: {redact(str(err), self._key)}")

    def _final_error(self, err: BaseException, attempts: int) -> Exception:
        import openai

        where = self._where()
        status = _status(err)
        if status == 429:
            what = f"rate limit (HTTP 429) on every one of {attempts} attempts: lower --concurrency or try later"
        elif status is not None:
            what = f"server error (HTTP {status}) on every one of {attempts} attempts: {self._server_says(err)}"
        elif isinstance(err, openai.APITimeoutError):
            what = f"no answer within {self.timeout_s:g} s on {attempts} attempts: raise --timeout"
        else:
            what = f"connection lost on every one of {attempts} attempts"
        return EndpointUnavailableError(f"{where}: {what}. Answers collected so far are kept; "
                                        "run the same command again to continue.")

    def close(self) -> None:
        self._client.close()
