"""The VLM judge against a real local OpenAI-compatible server (tests/fake_openai.py): DreamBench++'s
messages, retries, budget, cache, resume after a kill, and the bound on requests in flight."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

pytest.importorskip("openai")
pytest.importorskip("aiohttp")

from fake_openai import FakeOpenAI, question_id  # noqa: E402

from idbench.judge.client import AnswerCache, JudgeClient, JudgeRequest, JudgeStats  # noqa: E402
from idbench.judge.protocol import SETTINGS, read_dreambench_prompts  # noqa: E402


def write_images(root: Path, n_subjects: int, per_subject: int, *, size: int = 48) -> Path:
    """refs/<subject>/{0,1}.png and gen/m/<subject>/<k>.png with a <k>.txt prompt: each subject its
    colour, each generation that colour shifted by k (so the fake judge's scores vary)."""
    rng = np.random.default_rng(0)
    for s in range(n_subjects):
        base = np.array([(37 * s) % 256, (91 * s + 40) % 256, (53 * s + 90) % 256], np.float64)
        for k in range(2):
            d = root / "refs" / f"s{s:02d}"
            d.mkdir(parents=True, exist_ok=True)
            px = np.clip(base + rng.normal(0, 4, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(d / f"{k}.png")
        for k in range(per_subject):
            d = root / "gen" / "m" / f"s{s:02d}"
            d.mkdir(parents=True, exist_ok=True)
            px = np.clip(base + 9 * k + rng.normal(0, 4, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(d / f"{k}.png")
            (d / f"{k}.txt").write_text(f"a photo of sks thing number {k} on a {'red' if k % 2 else 'blue'} table\n")
    return root


@pytest.fixture
def server():
    srv = FakeOpenAI()
    url = srv.start()
    srv.url = url
    yield srv
    srv.stop()


def run_study(root: Path, spec: str, out: Path, *extra: str, cache: Path | None = None, env=None):
    cmd = [sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(root / "refs"), "--gen", str(root / "gen"),
           "-e", spec, "--protocols", "similarity", "--bootstrap", "200", "-o", str(out), "--replace",
           "--cache-dir", str(cache or root / "cache"), "-q", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OPENAI_API_KEY": "sk-test-not-a-real-key", **(env or {})})


# ----------------------------------------------------------------------------- DreamBench++'s messages
# Transcribed from yuangpeng/dreambench_plus at commit 66ca27e (the code, not idbench's rule):
#   dreambench_plus/utils/image_utils.py::load_image, dreambench_plus/utils/gpt_utils.py::encode_image_into_base64,
#   dreambench_plus/eval_concept_preservation.py::execute_gpt_task, dreambench_plus/eval_prompt_following.py::execute_gpt_task


def _upstream_load_image(path):
    image = Image.open(path)
    image = ImageOps.exif_transpose(image)
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def _upstream_encode(image):
    image = _upstream_load_image_pil(image)
    buffered = io.BytesIO()
    image.save(buffered, format="JPEG")
    return base64.b64encode(buffered.getvalue()).decode("utf-8")


def _upstream_load_image_pil(image):
    image = ImageOps.exif_transpose(image)
    return image.convert("RGB")


def _upstream_concept_messages(prompt_dir: Path, category, ablation_settings, src_path, tgt_path):
    src_image = _upstream_encode(_upstream_load_image(src_path).resize((512, 512)))
    tgt_image = _upstream_encode(_upstream_load_image(tgt_path).resize((512, 512)))
    if ablation_settings == "wo_internal_thinking":
        user_prompt = (prompt_dir / f"user_prompt_{category}_full.txt").read_text().strip()
        return [{"role": "user", "content": [
            {"type": "text", "text": user_prompt},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{src_image}", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{tgt_image}", "detail": "high"}}]}]
    user_prompt = (prompt_dir / f"user_prompt_{category}_{ablation_settings}.txt").read_text().strip()
    gpt_prompt = (prompt_dir / f"gpt_prompt_{category}_{ablation_settings}.txt").read_text().strip()
    return [{"role": "user", "content": user_prompt}, {"role": "assistant", "content": gpt_prompt},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{src_image}", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{tgt_image}", "detail": "high"}}]}]


def _upstream_prompt_messages(prompt_dir: Path, ablation_settings, instruction_path, tgt_path):
    with open(instruction_path) as file:
        instruction = file.readline().strip()
    tgt_image = _upstream_encode(_upstream_load_image(tgt_path).resize((512, 512)))
    if ablation_settings == "wo_gpt_prompt":  # the branch its option wo_internal_thinking means
        user_prompt = (prompt_dir / "user_prompt_text_full.txt").read_text().strip()
        return [{"role": "user", "content": [
            {"type": "text", "text": user_prompt + f"\n\n### Text Prompt\n{instruction}"},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{tgt_image}", "detail": "high"}}]}]
    user_prompt = (prompt_dir / f"user_prompt_text_{ablation_settings}.txt").read_text().strip()
    gpt_prompt = (prompt_dir / f"gpt_prompt_text_{ablation_settings}.txt").read_text().strip()
    return [{"role": "user", "content": user_prompt}, {"role": "assistant", "content": gpt_prompt},
            {"role": "user", "content": [
                {"type": "text", "text": instruction},
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{tgt_image}", "detail": "high"}}]}]


def _prompt_folder(root: Path) -> Path:
    """Prompt files named as DreamBench++'s, with texts of our own (its texts are not copied)."""
    d = root / "dreambench_plus" / "dreambench_plus" / "prompts"
    d.mkdir(parents=True)
    for category, settings in (("subject", SETTINGS["concept"]), ("text", SETTINGS["prompt"])):
        for s in settings:
            if s == "wo_internal_thinking":
                continue
            (d / f"user_prompt_{category}_{s}.txt").write_text(f"\n  Task for {category} ({s}).\nOutput: Score: [0-4]\n\n")
            (d / f"gpt_prompt_{category}_{s}.txt").write_text(f"I understand the {category} task ({s}).\n")
    return root / "dreambench_plus"


@pytest.mark.parametrize("aspect,setting", [(a, s) for a in ("concept", "prompt") for s in SETTINGS[a]])
def test_the_messages_sent_equal_dreambench_plus_plus_code(tmp_path, server, aspect, setting):
    root = write_images(tmp_path, 2, 1)
    # one photo with an EXIF rotation and one RGBA image: loaded as DreamBench++ loads them
    im = Image.open(root / "gen" / "m" / "s00" / "0.png").convert("RGB").resize((40, 56))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(root / "gen" / "m" / "s00" / "0.png", exif=exif.tobytes())
    rgba = Image.open(root / "refs" / "s01" / "0.png").convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 90))
    rgba.save(root / "refs" / "s01" / "0.png")
    prompts = _prompt_folder(tmp_path)
    r = run_study(root, f"judge:fake-4o#base_url={server.url},aspects={aspect}", tmp_path / "out",
                  "--judge-prompts", str(prompts), "--judge-setting", setting)
    assert r.returncode == 0, r.stderr[-2000:]
    pdir = prompts / "dreambench_plus" / "prompts"
    expected = []
    for s in ("s00", "s01"):
        tgt, instr = root / "gen" / "m" / s / "0.png", root / "gen" / "m" / s / "0.txt"
        if aspect == "concept":
            expected.append(_upstream_concept_messages(pdir, "subject", setting, root / "refs" / s / "0.png", tgt))
        else:
            expected.append(_upstream_prompt_messages(pdir, "wo_gpt_prompt" if setting == "wo_internal_thinking"
                                                      else setting, instr, tgt))
    if aspect == "concept":  # the real and impostor questions: a subject's first reference against photos
        for s, t in (("s00", "s01"), ("s01", "s00")):
            expected.append(_upstream_concept_messages(pdir, "subject", setting, root / "refs" / s / "0.png",
                                                       root / "refs" / s / "1.png"))
            expected.append(_upstream_concept_messages(pdir, "subject", setting, root / "refs" / s / "0.png",
                                                       root / "refs" / t / "0.png"))
    sent = [b["messages"] for b in server.bodies]
    assert len(sent) == len(expected)
    for m in expected:
        assert m in sent
    for b in server.bodies:
        for im in (Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",")[1])))
                   for msg in b["messages"] if isinstance(msg["content"], list)
                   for p in msg["content"] if p["type"] == "image_url"):
            assert im.size == (512, 512) and im.format == "JPEG"


def test_dreambench_prompts_are_read_from_a_checkout_and_a_missing_file_is_named(tmp_path):
    folder = _prompt_folder(tmp_path)
    p = read_dreambench_prompts(folder, "concept", "w_cot")
    assert p.user == "Task for subject (w_cot).\nOutput: Score: [0-4]" and p.assistant == "I understand the subject task (w_cot)."
    assert read_dreambench_prompts(folder, "concept", "wo_internal_thinking").assistant is None
    (folder / "dreambench_plus" / "prompts" / "gpt_prompt_text_wo_cot.txt").unlink()
    with pytest.raises(ValueError, match="gpt_prompt_text_wo_cot.txt: missing"):
        read_dreambench_prompts(folder, "prompt", "wo_cot")
    with pytest.raises(ValueError, match="no DreamBench"):
        read_dreambench_prompts(tmp_path / "elsewhere", "prompt")


# ----------------------------------------------------------------------------- a study at scale


def _five_percent(qid: str, attempt: int, body) -> str | None:
    """5% of questions fail on their first attempt, with each kind of transient or parse failure."""
    if attempt > 0:
        return None
    h = int(qid[:8], 16) % 100
    return {0: "429", 1: "500", 2: "malformed", 3: "two_scores", 4: "timeout"}.get(h)


def test_a_study_of_200_generations_completes_through_5_percent_failures_and_a_rerun_sends_nothing(tmp_path, server):
    server.faults, server.timeout_sleep = _five_percent, 4.0
    root = write_images(tmp_path, 20, 10)
    spec = f"judge:fake-4o#base_url={server.url},concurrency=6,timeout=2,attempts=4"
    r = run_study(root, spec, tmp_path / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    per_image = [line.split(",") for line in (tmp_path / "out" / "per_image.csv").read_text().splitlines()]
    head = per_image[0]
    cols = [head.index("judge_concept[judge:fake-4o]"), head.index("judge_prompt[judge:fake-4o]")]
    assert len(per_image) - 1 == 200 and all(row[c] != "" for row in per_image[1:] for c in cols)
    faults = {question_id(b) for b in server.bodies if _five_percent(question_id(b), 0, b)}
    assert 0.02 * 440 < len(faults) < 0.09 * 440  # about 5% of the 400 + 40 questions failed once ...
    assert len(set(server.answered)) == len({question_id(b) for b in server.bodies}) == 440  # ... and were answered
    assert server.max_in_flight <= 6
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    run = summary["sections"]["judge"]["judges"]["judge:fake-4o"]["run"]
    assert run["answered"] == 440 and run["failed"] == {} and run["cached"] == 0
    assert sum(run["retries"].values()) == len(faults)  # each failed once, then answered
    assert "sk-test" not in (tmp_path / "out" / "summary.json").read_text()
    for f in (tmp_path / "cache").rglob("*.json"):
        assert "sk-test" not in f.read_text()
    # every value: the fake judge's score of that generation / 4
    baselines = summary["sections"]["baselines"]["columns"]["judge_concept[judge:fake-4o]"]
    assert baselines["real"]["mean"] > baselines["impostor"]["mean"]

    sent = len(server.bodies)
    again = run_study(root, spec, tmp_path / "out2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(server.bodies) == sent  # a re-run makes no request
    assert (tmp_path / "out2" / "per_image.csv").read_text() == (tmp_path / "out" / "per_image.csv").read_text()
    rerun = json.loads((tmp_path / "out2" / "summary.json").read_text())["sections"]["judge"]["judges"]["judge:fake-4o"]["run"]
    assert rerun["cached"] == 440 and rerun["requests"] == 0


def test_a_killed_run_resumes_without_asking_an_answered_question_again(tmp_path, server):
    server.delay = 0.05
    root = write_images(tmp_path, 10, 6)
    spec = f"judge:fake-4o#base_url={server.url},concurrency=2"
    cmd = [sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(root / "refs"), "--gen", str(root / "gen"),
           "-e", spec, "--protocols", "similarity", "-o", str(tmp_path / "out"), "--cache-dir", str(root / "cache"), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OPENAI_API_KEY": "sk-test"})
    deadline = time.monotonic() + 120
    while len(server.answered) < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    cached = {json.loads(f.read_text())["meta"]["id"] + "/" + json.loads(f.read_text())["meta"]["aspect"]
              for f in (root / "cache" / "judge").rglob("*.json")}
    assert 30 <= len(cached) < 140, len(cached)  # stopped midway, its answers kept
    first = len(server.bodies)
    before = {question_id(b) for b in server.bodies[:first]}
    answered_then = set(server.answered)
    r = run_study(root, spec, tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    later = [question_id(b) for b in server.bodies[first:]]
    assert len(later) == len(set(later))  # nothing asked twice in the resumed run
    assert len(set(later) & answered_then) <= 2  # at most the answers in flight when it was killed (≤ concurrency)
    assert len(set(later) | before) == 10 * 6 * 2 + 20
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["sections"]["judge"]["judges"]["judge:fake-4o"]["run"]["cached"] >= len(cached)


# ----------------------------------------------------------------------------- budget, errors, bounds


def test_a_run_above_the_budget_stops_before_sending(tmp_path, server):
    root = write_images(tmp_path, 3, 2)
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake-4o"]\ninput = 2.5\noutput = 10.0\n')
    r = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out", "--judge-budget", "0.001",
                  "--judge-prices", str(prices))
    err = " ".join(r.stderr.split())
    assert r.returncode != 0 and "above the budget $0.00" in err and "nothing was sent" in err
    assert server.bodies == []
    # the estimate: 6 generations x 2 aspects + 3 real + 3 impostor questions
    assert "18 request(s) to send (0 cached)" in err
    ok = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out", "--judge-budget", "1",
                   "--judge-prices", str(prices))
    assert ok.returncode == 0, ok.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["sections"]["judge"]["judges"]["judge:fake-4o"]
    assert summary["run"]["tokens_in"] == 800 * 18 and summary["run"]["tokens_out"] == 5 * 18
    assert summary["cost_usd"] == pytest.approx((800 * 18 * 2.5 + 5 * 18 * 10.0) / 1e6)
    tables = (tmp_path / "out" / "tables.md").read_text()
    assert "### VLM judge" in tables and "18 requests sent" in tables and "$0.04" in tables


def _req(key: str, text: str = "Score this") -> JudgeRequest:
    return JudgeRequest(key, lambda: [{"role": "user", "content": text}], 10, 5, {"id": key, "aspect": "prompt"})


def test_retry_after_is_honoured_and_transient_errors_are_retried(server):
    server.retry_after = "3"
    server.faults = lambda qid, attempt, body: "429" if attempt == 0 else ("500" if attempt == 1 else None)
    waits = []
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", sleep=waits.append, backoff=0.5)
    answers, stats = client.run([_req("a")], None, progress=False)
    assert answers["a"]["score"] == len("Score this") % 5
    assert waits == [3.0, 1.0]  # Retry-After first; then the backoff of the second try (0.5 x 2)
    assert stats.requests == 3 and stats.retries == {"rate_limited": 1, "server_error": 1}


def test_permanent_errors_are_named_once_counted_and_not_retried(server):
    server.faults = lambda qid, attempt, body: "refusal" if "refuse" in json.dumps(body) else None
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", sleep=lambda s: None)
    failures = []
    answers, stats = client.run([_req("a"), _req("b", "please refuse"), _req("c")], None, progress=False,
                                on_failure=lambda r, kind, msg: failures.append((r.key, kind)))
    assert set(answers) == {"a", "c"} and failures == [("b", "refused")] and stats.failed == {"refused": 1}
    assert stats.requests == 3  # the refusal was not asked again

    server.faults = lambda qid, attempt, body: "401"
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", sleep=lambda s: None, concurrency=1)
    answers, stats = client.run([_req(k) for k in "xyz"], None, progress=False)
    assert answers == {} and stats.requests == 1  # authentication fails once; the rest are not sent
    assert stats.failed == {"authentication": 1, "stopped": 2} and "Incorrect API key" in stats.first_error["authentication"]

    server.faults, server.models = None, ("gpt-4o",)
    client = JudgeClient("gpt-5-typo", base_url=server.url, api_key="k", sleep=lambda s: None, concurrency=1)
    answers, stats = client.run([_req("p"), _req("q")], None, progress=False)
    assert stats.failed == {"model_not_found": 1, "stopped": 1} and stats.requests == 1


def test_unparsable_answers_are_asked_again_then_named(server):
    server.faults = lambda qid, attempt, body: "two_scores"
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", sleep=lambda s: None, parse_retries=3)
    answers, stats = client.run([_req("a")], None, progress=False)
    assert answers == {} and stats.failed == {"unparsable": 1} and stats.requests == 3
    assert "no single score" in stats.first_error["unparsable"]


def test_requests_in_flight_never_exceed_the_bound_and_reach_it(server):
    server.delay = 0.15
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", concurrency=3)
    answers, stats = client.run([_req(f"k{i}", f"question {i}") for i in range(12)], None, progress=False)
    assert len(answers) == 12 and server.max_in_flight == 3 and stats.max_in_flight == 3


def test_cached_answers_make_no_request_and_a_damaged_entry_is_asked_again(tmp_path, server):
    cache = AnswerCache(tmp_path)
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k")
    client.run([_req("a"), _req("b")], cache, progress=False)
    assert len(server.bodies) == 2
    (tmp_path / "judge" / "b"[:2] / "b.json").write_text("{damaged")
    answers, stats = client.run([_req("a"), _req("b")], cache, progress=False)
    assert stats.cached == 1 and stats.requests == 1 and len(server.bodies) == 3 and set(answers) == {"a", "b"}


def test_tokens_per_minute_are_bounded():
    from idbench.judge.client import TokenWindow

    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    w = TokenWindow(1000, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        w.take(400)  # 400 + 400 fit; the third waits until the first leaves the 60 s window
    assert waits == [60.0] and now[0] == 60.0


def test_a_network_that_never_answers_is_a_named_timeout(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections, never answers
    try:
        client = JudgeClient("fake-4o", base_url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1", api_key="k",
                             timeout=0.5, max_attempts=2, sleep=lambda s: None)
        t0 = time.monotonic()
        answers, stats = client.run([_req("a")], None, progress=False)
        assert answers == {} and stats.failed == {"timeout": 1} and time.monotonic() - t0 < 10
    finally:
        sock.close()


def test_judge_specs_are_checked():
    from idbench.encoders.registry import create_encoder

    j = create_encoder("judge:gpt-4o#aspects=concept,concurrency=3")
    assert (j.kind, j.model, j.aspects, j.concurrency, j.name) == ("judge", "gpt-4o", ("concept",), 3, "judge:gpt-4o")
    for bad, why in (("judge:gpt-4o#aspects=style", "unknown aspect"), ("judge:gpt-4o#concurrency=0", "at least 1"),
                     ("judge:gpt-4o#key=sk-1", "unknown option"), ("judge:hf:", "name the model"),
                     ("judge:hf:Qwen/Qwen2-VL-2B-Instruct#base_url=http://h:1/v1", "for endpoints")):
        with pytest.raises(Exception, match=why):
            create_encoder(bad)


def test_no_stats_object_leaks_the_key():
    assert "key" not in " ".join(JudgeStats().to_dict())


# ----------------------------------------------------------------------------- a VLM run here (judge:hf:)

QWEN = "Qwen/Qwen2-VL-2B-Instruct"


def _tiny_qwen2_vl(snapshot: Path, answer: str | None) -> None:
    """A tiny random Qwen2-VL (its real classes: Qwen2VLForConditionalGeneration, Qwen2VLProcessor, a
    byte-level BPE tokenizer with its special tokens, a Qwen-style chat template). With ``answer``,
    its generation config biases decoding to that text (transformers' ``sequence_bias``), so that
    the judge's parsing and columns can be checked; without, it answers noise."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
               "<|video_pad|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["Score: 0 1 2 3 4 the subject image prompt"] * 10, trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
                "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|>"
                "<|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
                "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    ids = {t: fast.convert_tokens_to_ids(t) for t in special}
    cfg = transformers.Qwen2VLConfig(
        text_config=dict(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, bos_token_id=ids["<|im_start|>"],
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    transformers.Qwen2VLForConditionalGeneration(cfg).save_pretrained(snapshot)
    transformers.Qwen2VLProcessor(image_processor=transformers.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112),
                                  tokenizer=fast, video_processor=transformers.Qwen2VLVideoProcessor(),
                                  chat_template=template).save_pretrained(snapshot)
    if answer is not None:
        seq = fast(answer, add_special_tokens=False)["input_ids"] + [ids["<|im_end|>"]]
        gc = transformers.GenerationConfig.from_pretrained(snapshot)
        gc.sequence_bias = [[seq[:k + 1], 100.0 * (k + 1)] for k in range(len(seq))]
        gc.save_pretrained(snapshot)


def _offline_hub(root: Path, repo: str, answer: str | None) -> Path:
    snap = "0" * 40
    d = root / f"models--{repo.replace('/', '--')}"
    (d / "snapshots" / snap).mkdir(parents=True)
    (d / "refs").mkdir()
    (d / "refs" / "main").write_text(snap)
    _tiny_qwen2_vl(d / "snapshots" / snap, answer)
    return root


def test_a_transformers_vlm_judges_here_offline_under_its_hub_id(tmp_path):
    pytest.importorskip("transformers")
    hub = _offline_hub(tmp_path / "hub", QWEN, "Score: 3")
    root = write_images(tmp_path, 3, 2)
    env = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    r = run_study(root, f"judge:hf:{QWEN}", tmp_path / "out", "--judge-samples", "2", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    j = summary["sections"]["judge"]["judges"][f"judge:hf:{QWEN}"]
    assert j["endpoint"] == f"local:{QWEN}" and j["cost_usd"] == 0.0
    assert j["run"]["answered"] == (6 * 2 + 3 + 3) * 2 and j["run"]["failed"] == {}
    for aspect in ("concept", "prompt"):
        col = f"judge_{aspect}[judge:hf:{QWEN}]"
        assert summary["methods"]["m"][col]["mean"] == 0.75  # "Score: 3" / 4, every image
    answers = [json.loads(f.read_text()) for f in (root / "cache" / "judge").rglob("*.json")]
    assert {a["content"] for a in answers} == {"Score: 3"} and all(a["tokens_in"] > 50 for a in answers)
    again = run_study(root, f"judge:hf:{QWEN}", tmp_path / "out2", "--judge-samples", "2",
                      env={**env, "HF_HUB_CACHE": str(tmp_path / "empty")})  # every answer cached: no model needed
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_local_vlm_that_answers_noise_is_named_unparsable_and_a_missing_one_is_named(tmp_path):
    pytest.importorskip("transformers")
    hub = _offline_hub(tmp_path / "hub", QWEN, None)
    root = write_images(tmp_path, 2, 1)
    env = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    r = run_study(root, f"judge:hf:{QWEN}#aspects=prompt", tmp_path / "out", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    problems = (tmp_path / "out" / "problems.csv").read_text()
    assert problems.count("judge_unparsable") == 2 and "no single score in the answer" in problems
    missing = run_study(root, "judge:hf:nobody/no-such-vlm", tmp_path / "out3", env=env)
    err = " ".join(missing.stderr.split())
    assert missing.returncode != 0 and "'nobody/no-such-vlm' is not in the local hub cache" in err


@pytest.mark.parametrize("fault,kind", [("out_of_range", "unparsable"), ("no_choices", "unparsable"),
                                        ("not_json", None)])
def test_a_stray_score_an_empty_answer_or_a_non_json_body_never_becomes_a_number(server, fault, kind):
    server.faults = lambda qid, attempt, body: fault
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k", sleep=lambda s: None, parse_retries=2,
                         max_attempts=2)
    answers, stats = client.run([_req("a")], None, progress=False)
    assert answers == {} and sum(stats.failed.values()) == 1  # named, never scored
    if kind:
        assert stats.failed == {kind: 1} and stats.requests == 2  # asked again once, then named


def test_a_huge_answer_is_read_whole_and_kept_short(tmp_path, server):
    from idbench.judge.client import MAX_CONTENT

    server.faults = lambda qid, attempt, body: "huge"
    cache = AnswerCache(tmp_path)
    client = JudgeClient("fake-4o", base_url=server.url, api_key="k")
    answers, _ = client.run([_req("a")], cache, progress=False)
    assert answers["a"]["score"] == 2 and len(answers["a"]["content"]) == MAX_CONTENT
    assert cache.get("a")["score"] == 2


def test_judge_options_that_cannot_apply_are_named_before_any_request(tmp_path, server):
    root = write_images(tmp_path, 2, 1)
    r = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out", "--judge-setting", "w_cot")
    assert r.returncode != 0 and "--judge-prompts" in " ".join(r.stderr.split())
    bad = tmp_path / "prices.toml"
    bad.write_text('[models."fake-4o"]\ninput = "cheap"\n')
    r = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out", "--judge-prices", str(bad))
    assert r.returncode != 0 and "needs numbers input and output" in " ".join(r.stderr.split())
    r = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out", "--judge-prompts", str(tmp_path))
    assert r.returncode != 0 and "no DreamBench++ prompt files" in " ".join(r.stderr.split())
    assert server.bodies == []


def test_an_endpoint_that_quotes_the_key_never_puts_it_in_the_results(tmp_path, server):
    server.faults = lambda qid, attempt, body: "401"
    root = write_images(tmp_path, 2, 1)
    r = run_study(root, f"judge:fake-4o#base_url={server.url}", tmp_path / "out",
                  env={"OPENAI_API_KEY": "sk-test-secret-0123456789"})
    assert r.returncode == 0, r.stderr[-2000:]
    for f in [tmp_path / "out" / n for n in ("summary.json", "problems.csv", "per_image.csv")]:
        assert "secret-0123456789" not in f.read_text(), f
    assert "secret-0123456789" not in r.stderr + r.stdout
    assert "Incorrect API key provided: [redacted]" in (tmp_path / "out" / "summary.json").read_text()


def test_a_generation_that_copies_a_reference_keeps_its_value_and_the_real_row_its_own(tmp_path, server):
    import shutil

    root = write_images(tmp_path, 2, 1)
    # s00's generation is a byte copy of s00's second reference: its concept question is the real row's question
    shutil.copy(root / "refs" / "s00" / "1.png", root / "gen" / "m" / "s00" / "0.png")
    r = run_study(root, f"judge:fake-4o#base_url={server.url},aspects=concept", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = list(csv.DictReader(open(tmp_path / "out" / "per_image.csv")))
    assert all(row["judge_concept[judge:fake-4o]"] for row in rows)  # both generations scored
    real = summary["sections"]["baselines"]["columns"]["judge_concept[judge:fake-4o]"]["real"]
    assert real["n_pairs"] == 2  # and both subjects' real pairs
    assert summary["sections"]["judge"]["judges"]["judge:fake-4o"]["estimate"]["questions"] == 2 + 2 + 2 - 1
    assert len(server.bodies) == 5  # the shared question asked once
