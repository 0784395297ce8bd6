"""What a VLM judge is asked and how its answer is read: DreamBench++'s GPT-4o protocol, and idbench's
own default prompt. Pure functions: messages in the OpenAI chat format, the score pattern, the
normalisation.

DreamBench++ (Peng et al., 2025; yuangpeng/dreambench_plus, ``eval_concept_preservation.py``,
``eval_prompt_following.py``, ``utils/gpt_utils.py``, ``benchmarking.py``) asks GPT-4o for an integer
score from 0 to 4:

* each image is loaded (EXIF orientation applied, RGBA put on white, RGB), resized to 512 x 512
  with Pillow's default filter, saved as JPEG with Pillow's default quality and sent base64
  with ``detail: high`` (:func:`encode_image`);
* the messages of an ablation setting (:func:`dreambench_messages`): for every setting but the one
  without internal thinking, the task text as the user's first turn, the model's own restatement
  of the task as an assistant turn (DreamBench++'s ``gpt_prompt_*`` files), then the images (and for
  prompt following, the instruction text first);
* ``temperature=1`` and a ``seed`` per request;
* the answer's score is read with the pattern ``(score|Score):\\s*[a-zA-Z]*\\s*(\\d+)`` and must
  occur exactly once; otherwise the request is sent again (:func:`parse_score`). idbench also asks
  again when the score is outside 0-4, where DreamBench++ would keep it;
* its tables divide the mean score by 4 (:func:`normalise`).

DreamBench++'s prompt texts are not copied into idbench: :func:`read_dreambench_prompts` reads them
from a checkout of its repository (``--judge-prompts``). idbench's own prompt
(:data:`IDBENCH_PROMPTS`, version :data:`IDBENCH_PROMPT_VERSION`) asks for the same scale and
states its criteria; its version is part of every cached answer's key.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

ASPECTS = ("concept", "prompt")
#: DreamBench++'s ablation settings per aspect (``main(ablation_settings=...)`` of each script)
SETTINGS = {"concept": ("full", "wo_internal_thinking", "w_human_prior", "w_cot", "wo_scoring_range",
                        "wo_scoring_criteria"),
            "prompt": ("full", "wo_internal_thinking", "wo_cot", "wo_scoring_range", "wo_scoring_criteria")}
SCORE_PATTERN = re.compile(r"(score|Score):\s*[a-zA-Z]*\s*(\d+)")
SCALE_MAX = 4
IMAGE_SIZE = (512, 512)


class JudgePromptError(ValueError):
    """A prompt folder without the files a setting needs (named)."""


@dataclass(frozen=True)
class JudgePrompts:
    """The texts of one aspect and setting: the user's task text, and the assistant's restatement
    (None for the setting without internal thinking). ``version`` names them in the cache key."""

    aspect: str
    setting: str
    user: str
    assistant: str | None
    version: str


def read_dreambench_prompts(folder: str | Path, aspect: str, setting: str = "full") -> JudgePrompts:
    """DreamBench++'s prompt files for ``aspect`` and ``setting`` from its checkout: ``folder`` is the
    repository, its ``dreambench_plus`` package or its ``prompts`` folder. As its scripts do: the
    setting without internal thinking sends ``user_prompt_<category>_full.txt`` alone; every other
    setting sends ``user_prompt_<category>_<setting>.txt`` and ``gpt_prompt_<category>_<setting>.txt``;
    each text is ``.strip()``-ed. (Its prompt-following script tests for the name ``wo_gpt_prompt``
    where its option says ``wo_internal_thinking``; idbench runs the branch that name means.)

    The concept category is ``subject`` (DreamBench++'s ``style`` collections use
    ``setting``'s style files: pass ``aspect="style"``)."""
    category = {"concept": "subject", "style": "style", "prompt": "text"}.get(aspect)
    if category is None:
        raise JudgePromptError(f"unknown aspect {aspect!r}; known: concept, prompt, style")
    known = SETTINGS["prompt" if aspect == "prompt" else "concept"]
    if setting not in known:
        raise JudgePromptError(f"unknown setting {setting!r} for {aspect}; known: {', '.join(known)}")
    root = Path(folder)
    for cand in (root, root / "prompts", root / "dreambench_plus" / "prompts"):
        if (cand / f"user_prompt_{category}_full.txt").is_file():
            root = cand
            break
    else:
        raise JudgePromptError(f"{folder}: no DreamBench++ prompt files (user_prompt_{category}_full.txt) here, in "
                               "prompts/ or in dreambench_plus/prompts/; give the path of a dreambench_plus checkout")
    if setting == "wo_internal_thinking":
        user, assistant = _read(root / f"user_prompt_{category}_full.txt"), None
    else:
        user = _read(root / f"user_prompt_{category}_{setting}.txt")
        assistant = _read(root / f"gpt_prompt_{category}_{setting}.txt")
    digest = hashlib.sha256(f"{user}\x00{assistant}".encode()).hexdigest()[:12]
    return JudgePrompts(aspect, setting, user, assistant, f"dreambench++:{category}:{setting}:{digest}")


def _read(path: Path) -> str:
    if not path.is_file():
        raise JudgePromptError(f"{path}: missing (this DreamBench++ setting needs it)")
    return path.read_text(encoding="utf-8").strip()


#: idbench's own judge prompt: its version is part of every cached answer's key (change the text,
#: change the version)
IDBENCH_PROMPT_VERSION = "idbench-judge-v1"
IDBENCH_PROMPTS = {
    "concept": (
        "You compare two images. The first is a reference photo of one specific subject (a person, an "
        "animal or an object). The second was generated to show that same subject in a new scene.\n\n"
        "Judge only whether the subject in the second image is the same individual as in the first: its "
        "shape and proportions, its colours and markings, its textures and fine details, and for a person "
        "or an animal its face. Ignore the background, the pose, the lighting and the style of the scene. "
        "A different individual of the same kind (another dog of the same breed, another mug of the same "
        "type) is not the same subject.\n\n"
        "Give an integer from 0 to 4:\n"
        "0: no resemblance; the subject is unrelated.\n"
        "1: same broad kind, clearly a different individual.\n"
        "2: similar, with notable differences in identity-defining details.\n"
        "3: the same individual, with minor discrepancies.\n"
        "4: the same individual; no visible difference in the subject.\n\n"
        "Answer with one line and nothing else:\nScore: <0-4>"),
    "prompt": (
        "You receive a text prompt and an image generated from it. Judge how well the image follows the "
        "prompt: every object, attribute, action, relation, setting and style the prompt names must be "
        "present and correct. Ignore image quality unless the prompt asks for it, and ignore who the "
        "subject is.\n\n"
        "Give an integer from 0 to 4:\n"
        "0: the image does not follow the prompt.\n"
        "1: a small part of the prompt is shown.\n"
        "2: about half of the prompt is shown, or its main element is wrong.\n"
        "3: nearly all of the prompt is shown, with a minor omission or error.\n"
        "4: everything the prompt asks for is shown.\n\n"
        "Answer with one line and nothing else:\nScore: <0-4>"),
}


def idbench_prompts(aspect: str) -> JudgePrompts:
    """idbench's own prompt for ``aspect``: one user turn (text, then the images), no assistant turn."""
    if aspect not in IDBENCH_PROMPTS:
        raise JudgePromptError(f"unknown aspect {aspect!r}; known: {', '.join(IDBENCH_PROMPTS)}")
    return JudgePrompts(aspect, "idbench", IDBENCH_PROMPTS[aspect], None, f"{IDBENCH_PROMPT_VERSION}:{aspect}")


def encode_image(path: str | Path) -> str:
    """An image as DreamBench++ sends it: loaded upright in RGB (RGBA on white), resized to 512 x 512
    with Pillow's default filter, saved as JPEG with Pillow's default quality, base64 text."""
    from idbench.data.images import load_image

    image = load_image(path).resize(IMAGE_SIZE)
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode("utf-8")


def _image_part(b64: str) -> dict:
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}", "detail": "high"}}


def dreambench_messages(prompts: JudgePrompts, target_b64: str, *, source_b64: str | None = None,
                        instruction: str | None = None) -> list[dict]:
    """The chat messages of one request, built as DreamBench++'s scripts build them.

    Concept (``source_b64`` given): with an assistant turn, ``[user: task, assistant: restatement,
    user: [source image, generated image]]``; without (``wo_internal_thinking``, and idbench's own
    prompt), ``[user: [task text, source image, generated image]]``.

    Prompt (``instruction`` given): with an assistant turn, ``[user: task, assistant: restatement,
    user: [instruction text, generated image]]``; without, ``[user: [task + "\\n\\n### Text Prompt\\n"
    + instruction, generated image]]``. idbench's own prompt puts the instruction the same way.
    """
    if (source_b64 is None) == (instruction is None):
        raise ValueError("give source_b64 (concept preservation) or instruction (prompt following), not both")
    if source_b64 is not None:
        images = [_image_part(source_b64), _image_part(target_b64)]
        if prompts.assistant is None:
            return [{"role": "user", "content": [{"type": "text", "text": prompts.user}, *images]}]
        return [{"role": "user", "content": prompts.user}, {"role": "assistant", "content": prompts.assistant},
                {"role": "user", "content": images}]
    if prompts.assistant is None:
        return [{"role": "user", "content": [{"type": "text", "text": prompts.user + f"\n\n### Text Prompt\n{instruction}"},
                                             _image_part(target_b64)]}]
    return [{"role": "user", "content": prompts.user}, {"role": "assistant", "content": prompts.assistant},
            {"role": "user", "content": [{"type": "text", "text": instruction}, _image_part(target_b64)]}]


def parse_score(content: str | None) -> int | None:
    """The one score in a judge's answer (DreamBench++'s pattern), or None when there is none or more
    than one (DreamBench++ then asks again).

    >>> parse_score("Analysis: the dog matches.\\nScore: 3"), parse_score("Score: 2 ... Score: 3"), parse_score("4")
    (3, None, None)
    """
    found = SCORE_PATTERN.findall(content or "")
    return int(found[0][1]) if len(found) == 1 else None


def normalise(score: float) -> float:
    """DreamBench++'s table value of a score: score / 4, in [0, 1] (``benchmarking.cal_score``).

    >>> normalise(3)
    0.75
    """
    return score / SCALE_MAX


__all__ = ["ASPECTS", "IDBENCH_PROMPTS", "IDBENCH_PROMPT_VERSION", "JudgePromptError", "JudgePrompts", "SETTINGS",
           "dreambench_messages", "encode_image", "idbench_prompts", "normalise", "parse_score",
           "read_dreambench_prompts"]
