"""ChatOpenAI end to end against a stand-in OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.types import Answer
from qa.answering.llm.answerer import LLMAnswerer

FABRICATED = "the IRS will publish every immigrant's tax return online"


class FakeOpenAI(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions``: a 'model' that quotes passage [1] and invents one quote."""

    server: Any

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        if self.server.mode == "error":
            self._json(500, {"error": {"message": "model crashed", "type": "server_error"}})
            return
        if self.server.mode == "slow":
            time.sleep(3)
        content = self.server.reply(body["messages"][-1]["content"])
        if body.get("stream"):
            self._sse(content, body["model"])
        else:
            self._json(
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content},
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                },
            )

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, content: str, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pieces = re.findall(r"\S+\s*|\s+", content)
        deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]
        for i, delta in enumerate([*deltas, {}]):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "finish_reason": "stop" if i == len(deltas) else None,
                    }
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def passages(prompt: str) -> dict[int, str]:
    """The passages of the prompt, by marker: ``[n] source`` on its own line, then the text."""
    found = re.findall(
        r"^\[(\d+)\] \S+\n(.*?)(?=^\[\d+\] \S+$|^Question: )", prompt, re.MULTILINE | re.DOTALL
    )
    return {int(n): text for n, text in found}


def reply(prompt: str) -> str:
    """Quote the first eight words of passage [2] and of [1], and invent a quote for [1]."""
    ps = passages(prompt)
    one = " ".join(ps[1].split()[:8])
    two = " ".join(ps[2].split()[:8])
    return (
        f'The second passage opens with "{two}" [2]. The first says "{one}" [1]. '
        f'It also claims "{FABRICATED}" [1].'
    )


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up on a slow reply is expected in the timeout test


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = QuietServer(("127.0.0.1", 0), FakeOpenAI)
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.mode = "ok"  # type: ignore[attr-defined]
    httpd.reply = reply  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def service(server, sources_dir, fake_embeddings, make_service):
    svc = make_service(
        sources_dir,
        fake_embeddings,
        answerer="llm",
        llm={
            "provider": "openai",
            "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
            "model": "stand-in-model",
            "api_key": "test-key",
            "timeout": 1.0,
        },
    )
    svc.index()
    return svc


QUESTION = "What did Judge Friedrich decide about IRS data sharing?"


def check(service, answer: Answer) -> None:
    assert answer.answerer == "llm"
    assert len(answer.citations) == 2
    for cit in answer.citations:
        text = Path(service.sources_dir, cit.source).read_text(encoding="utf-8")
        assert cit.verified and text[cit.start : cit.end] == cit.quote
        assert len(cit.quote.split()) == 8
    assert FABRICATED not in answer.answer
    assert any(FABRICATED in u for u in answer.unverified)
    assert re.fullmatch(
        r'The second passage opens with ".+" \[1\]\. The first says ".+" \[2\]\.',
        answer.answer,
        re.DOTALL,
    )


def test_openai_protocol_end_to_end(service, server) -> None:
    assert isinstance(service.answerer, LLMAnswerer)
    hits = service.answerer.retrieve(QUESTION)
    answer = service.ask(QUESTION)
    check(service, answer)
    # The quotes are the first words of passages [2] and [1], at their exact offsets.
    assert answer.citations[0].chunk_id == hits[1].chunk.id
    assert answer.citations[1].chunk_id == hits[0].chunk.id
    assert answer.citations[1].start >= hits[0].chunk.start
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer test-key"
    assert request["body"]["model"] == "stand-in-model"
    assert not request["body"].get("stream")
    roles = [m["role"] for m in request["body"]["messages"]]
    assert roles == ["system", "user"]


def test_openai_streaming_end_to_end(service, server) -> None:
    parts = list(service.answerer.stream(QUESTION))
    *deltas, final = parts
    assert server.requests[-1]["body"]["stream"] is True
    assert len(deltas) > 10 and all(isinstance(d, str) for d in deltas)
    draft = "".join(deltas)
    assert FABRICATED in draft  # the draft is raw; the final answer is verified
    assert isinstance(final, Answer)
    check(service, final)
    assert final == service.ask(QUESTION)


def test_server_error_falls_back(service, server) -> None:
    server.mode = "error"
    answer = service.ask(QUESTION)
    assert answer.answerer == "extractive"
    assert "returned an error" in answer.warnings[0]
    assert "500" in answer.warnings[0] and "model crashed" in answer.warnings[0]


def test_server_timeout_falls_back(service, server) -> None:
    server.mode = "slow"
    started = time.monotonic()
    answer = service.ask(QUESTION)
    assert time.monotonic() - started < 3
    assert answer.answerer == "extractive"
    assert "timed out" in answer.warnings[0]


def test_cli_ask_uses_the_llm_answerer(service, server, monkeypatch, capsys) -> None:
    from frontends.cli.main import main

    monkeypatch.setenv("QA_ANSWERER", "llm")
    monkeypatch.setenv("QA_LLM_BASE_URL", service.settings.llm.base_url)
    monkeypatch.setenv("QA_LLM_MODEL", "stand-in-model")
    monkeypatch.setenv("QA_LLM_API_KEY", "test-key")
    monkeypatch.setattr("qa.service.QAService.embeddings", service.embeddings)
    code = main(
        [
            "ask",
            "--json",
            "--sources",
            str(service.sources_dir),
            "--store",
            str(service.store_dir),
            QUESTION,
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answerer"] == "llm"
    assert len(out["citations"]) == 2 and out["unverified"]
