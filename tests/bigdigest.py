"""A synthetic digest of many items in the seed format, for tests that need a long ingest."""

from __future__ import annotations

import random
from pathlib import Path

_EN = (
    "The ministry held a meeting on the development of the region",
    "Officials discussed new measures to support farmers and small businesses",
    "The program will be implemented by the end of the year",
)
_RU = (
    "Министерство провело совещание по развитию региона",
    "Обсуждены новые меры поддержки фермеров и малого бизнеса",
)
_KK = (
    "Министрлік өңірді дамыту жөнінде кеңес өткізді",
    "Фермерлер мен шағын бизнесті қолдаудың жаңа шаралары талқыланды",
)


def write_digest(path: Path, count: int, *, seed: int = 7, agencies: int = 8) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write("News\n\n")
        for n in range(count):
            sentences = rng.choice((_EN, _RU, _KK))
            day, month = rng.randint(1, 28), rng.randint(1, 12)
            out.write(f"{rng.choice(sentences)} {n} {day:02d}.{month:02d}.2025\n")
            for _ in range(rng.randint(0, 4)):
                out.write(". ".join(rng.sample(sentences, 2)) + ".\n")
            out.write(
                "Source : https://www.gov.kz/memleket/entities/"
                f"agency{n % agencies}/press/news/details/{2_000_000 + n}?lang=kk\n\n"
            )
    return path
