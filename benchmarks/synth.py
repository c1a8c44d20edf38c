"""A synthetic digest in the seed format, as large as asked, always the same for a seed.

Press-release-like sentences in Kazakh, Russian and English; 40 agencies of unequal
activity; bodies of 0-12 paragraphs; a news id often published in two or three languages;
section headings now and then; 1% of the items repeated a little later (the same page seen
again, sometimes as ``http://gov.kz/...``); some bodies glued to their source marker
(``...platform.Source : https://...``), as real digests are.

``variant`` rewrites the same digest with 1% of the item bodies changed (the same 1% for
every variant > 0, each variant with different words), for "ingest after 1% changed".
Items are written with :func:`aggregator.digest.format_item`, the parser's own inverse.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.digest import format_item
from aggregator.model import Item, Lang
from aggregator.urls import SourceRef

ALMATY = ZoneInfo("Asia/Almaty")

#: 40 gov.kz entity slugs: ministries, committees and akimats.
AGENCIES: tuple[str, ...] = (
    "ecogeo", "economy", "almaty", "almobl", "astana", "shymkent", "mfa", "minfin", "moa",
    "tsm", "mod", "edu", "energo", "miid", "mcriap", "mvd", "kgd", "enbek", "dsm", "mz",
    "sci", "mti", "mint", "emer", "adilet", "stat", "akmola", "aktobe", "atyrau", "vko",
    "zko", "zhambyl", "karaganda", "kostanay", "kyzylorda", "mangystau", "pavlodar", "sko",
    "turkestan", "abay",
)  # fmt: skip

_EN_SENTENCES = (
    "The ministry held a meeting on the development of the region's infrastructure",
    "Officials discussed new measures to support farmers and small businesses",
    "The program will be implemented in stages by the end of the year",
    "More than 1,200 residents took part in the public hearings",
    "Particular attention was paid to the quality of drinking water in rural settlements",
    "According to the statistics, the volume of investment grew by 8.5% compared to last year",
    "The deputy minister answered questions from journalists and bloggers",
    "The working group will present its proposals to the Government within a month",
    "Applications are accepted through the eGov portal and public service centres",
    "The construction of 14 schools and 6 hospitals is planned in the region",
    "The event was attended by representatives of international organisations",
    "In addition, the digitalisation of archive records continues",
    "Citizens can get advice by calling the single contact centre 1414",
    "The memorandum provides for cooperation in education, science and culture",
    "The heating season in the region started on schedule",
)
_RU_SENTENCES = (
    "Министерство провело совещание по развитию инфраструктуры региона",
    "Обсуждены новые меры поддержки фермеров и малого бизнеса",
    "Программа будет реализована поэтапно до конца года",
    "В общественных слушаниях приняли участие более 1200 жителей",
    "Особое внимание уделено качеству питьевой воды в сельских населённых пунктах",
    "По данным статистики, объём инвестиций вырос на 8,5% по сравнению с прошлым годом",
    "Вице-министр ответил на вопросы журналистов и блогеров",
    "Рабочая группа в течение месяца внесёт предложения в Правительство",
    "Заявки принимаются через портал электронного правительства и ЦОНы",
    "В регионе планируется строительство 14 школ и 6 больниц",
    "В мероприятии приняли участие представители международных организаций",
    "Кроме того, продолжается оцифровка архивных документов",
    "Получить консультацию можно по номеру единого контакт-центра 1414",
    "Меморандум предусматривает сотрудничество в сфере образования, науки и культуры",
    "Отопительный сезон в области начался в плановом режиме",
)
_KK_SENTENCES = (
    "Министрлік өңірдің инфрақұрылымын дамыту жөнінде кеңес өткізді",
    "Фермерлер мен шағын бизнесті қолдаудың жаңа шаралары талқыланды",
    "Бағдарлама жыл соңына дейін кезең-кезеңімен іске асырылады",
    "Қоғамдық тыңдауларға 1200-ден астам тұрғын қатысты",
    "Ауылдық елді мекендердегі ауыз судың сапасына ерекше назар аударылды",
    "Статистика деректеріне сәйкес, инвестиция көлемі өткен жылмен салыстырғанда 8,5% өсті",
    "Вице-министр журналистер мен блогерлердің сұрақтарына жауап берді",
    "Жұмыс тобы бір ай ішінде Үкіметке ұсыныстарын енгізеді",
    "Өтінімдер электрондық үкімет порталы және ХҚКО арқылы қабылданады",
    "Өңірде 14 мектеп пен 6 аурухана салу жоспарлануда",
    "Іс-шараға халықаралық ұйымдардың өкілдері қатысты",
    "Сонымен қатар мұрағат құжаттарын цифрландыру жалғасуда",
    "Бірыңғай байланыс орталығының 1414 нөмірі арқылы кеңес алуға болады",
    "Меморандум білім, ғылым және мәдениет салаларындағы ынтымақтастықты көздейді",
    "Облыста жылыту маусымы кестеге сәйкес басталды",
)
SENTENCES: dict[Lang, tuple[str, ...]] = {
    "en": _EN_SENTENCES,
    "ru": _RU_SENTENCES,
    "kk": _KK_SENTENCES,
}
TITLES: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Meeting on regional development held",
        "New support measures for farmers announced",
        "Public hearings on the draft program completed",
        "Minister met with the ambassador",
        "Results of the first half of the year summed up",
        "Digital services for citizens expanded",
    ),
    "ru": (
        "Проведено совещание по развитию региона",
        "Объявлены новые меры поддержки фермеров",
        "Завершены общественные слушания по проекту программы",
        "Министр встретился с послом",
        "Подведены итоги первого полугодия",
        "Расширены цифровые услуги для граждан",
    ),
    "kk": (
        "Өңірді дамыту жөнінде кеңес өтті",
        "Фермерлерді қолдаудың жаңа шаралары жарияланды",
        "Бағдарлама жобасы бойынша қоғамдық тыңдаулар аяқталды",
        "Министр елшімен кездесті",
        "Бірінші жартыжылдықтың қорытындысы шығарылды",
        "Азаматтарға арналған цифрлық қызметтер кеңейтілді",
    ),
}
_HEADINGS: dict[Lang, tuple[str, ...]] = {
    "en": ("News", "Technology", "Official"),
    "ru": ("Новости", "Официально", "Регионы"),
    "kk": ("Жаңалықтар", "Ресми", "Өңірлер"),
}
_MARKERS: dict[Lang, tuple[str, ...]] = {
    "en": ("Source : ", "Source: ", "SOURCE : "),
    "ru": ("Источник : ", "Источник: ", "Source : "),
    "kk": ("Ақпарат көзі : ", "Дереккөз : ", "Source : "),
}
_CHANGED_NOTE: dict[Lang, str] = {
    "en": "The information was updated, revision {}",
    "ru": "Информация обновлена, редакция {}",
    "kk": "Ақпарат жаңартылды, {}-редакция",
}
_LANG_WEIGHTS: tuple[tuple[Lang, int], ...] = (("kk", 35), ("ru", 45), ("en", 20))
_START = datetime(2021, 1, 4, tzinfo=ALMATY)
_SPAN_DAYS = 1600

REPEAT_SHARE = 0.01
CHANGED_SHARE = 0.01
GLUED_SHARE = 0.12
TIMED_SHARE = 0.3
TRANSLATED_SHARE = 0.3
_RECENT = 1000


@dataclass(frozen=True, slots=True)
class DigestInfo:
    """What was written: ``unique`` items (distinct identities) among ``blocks``."""

    path: Path
    blocks: int
    unique: int
    repeats: int
    changed: int
    bytes: int
    agencies: int
    busiest: str


def changed_blocks(count: int, seed: int) -> frozenset[int]:
    """The indexes of the 1% of blocks a variant > 0 changes (the same for every variant)."""
    rng = random.Random(seed * 7919 + 1)
    return frozenset(rng.sample(range(count), max(1, int(count * CHANGED_SHARE))))


def _agency_weights() -> list[float]:
    """Zipf-like: the busiest agency publishes about 20 times as much as the quietest."""
    return [1.0 / (1 + rank * 0.5) for rank in range(len(AGENCIES))]


def _paragraph(rng: random.Random, sentences: tuple[str, ...]) -> str:
    chosen = [rng.choice(sentences) for _ in range(rng.randint(1, 5))]
    text = ". ".join(chosen) + "."
    if rng.random() < 0.08:
        # A lost space after a full stop, as in real digests: "...basis.In addition".
        text = text.replace(". ", ".", 1)
    return text


def _item(
    rng: random.Random, index: int, lang: Lang, agency: str, news_id: int, published: datetime
) -> Item:
    sentences = SENTENCES[lang]
    paragraphs = [_paragraph(rng, sentences) for _ in range(rng.randint(0, 12))]
    title = f"{rng.choice(TITLES[lang])} №{index}"
    ref = SourceRef(agency, str(news_id))
    return Item(
        agency=agency,
        news_id=ref.news_id,
        lang=lang,
        title=title,
        published=published,
        link=ref.link(lang),
        text="\n\n".join(paragraphs),
    )


def _with_change(item: Item, variant: int) -> Item:
    note = _CHANGED_NOTE[item.lang].format(variant) + "."
    text = f"{item.text}\n\n{note}" if item.text else note
    return Item(
        agency=item.agency,
        news_id=item.news_id,
        lang=item.lang,
        title=item.title,
        published=item.published,
        link=item.link,
        text=text,
    )


def _block(rng: random.Random, item: Item) -> str:
    """The digest text of one item, with the marker in its language, sometimes glued."""
    text = format_item(item)
    marker = rng.choice(_MARKERS[item.lang])
    text = text.replace("Source : ", marker, 1)
    # Always draw, so a changed body does not shift the random sequence of later items.
    glued = rng.random() < GLUED_SHARE
    if item.text and glued:
        text = text.replace("\n" + marker, marker, 1)
    return text


def write_digest(
    path: Path, count: int, *, seed: int = 2025, variant: int = 0, agencies: int = 40
) -> DigestInfo:
    """Writes ``count`` item blocks to ``path`` (UTF-8, ``\\n``) and says what they hold."""
    rng = random.Random(seed)
    names = AGENCIES[:agencies]
    weights = _agency_weights()[:agencies]
    langs = [lang for lang, _ in _LANG_WEIGHTS]
    lang_weights = [weight for _, weight in _LANG_WEIGHTS]
    changed = changed_blocks(count, seed) if variant else frozenset()
    recent: deque[str] = deque(maxlen=_RECENT)
    keys: set[tuple[str, str, str]] = set()
    per_agency: dict[str, int] = {}
    repeats = 0
    changed_items = 0
    news_id = 600_000
    pending: list[Item] = []
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(f"{_HEADINGS['kk'][0]}\n\n")
        for index in range(count):
            if recent and rng.random() < REPEAT_SHARE:
                again = rng.choice(recent)
                if rng.random() < 0.3:
                    again = again.replace("https://www.gov.kz/", "http://gov.kz/", 1)
                out.write(again)
                repeats += 1
                continue
            if not pending:
                news_id += rng.randint(1, 9)
                agency = rng.choices(names, weights)[0]
                published = _START + timedelta(days=_SPAN_DAYS * index // max(count, 1))
                if rng.random() < TIMED_SHARE:
                    published = published.replace(
                        hour=rng.randint(8, 19),
                        minute=rng.randint(0, 59),
                        second=rng.randint(0, 59),
                    )
                first = rng.choices(langs, lang_weights)[0]
                versions = [first]
                if rng.random() < TRANSLATED_SHARE:
                    versions += [lang for lang in langs if lang != first][: rng.randint(1, 2)]
                pending = [_item(rng, index, lang, agency, news_id, published) for lang in versions]
            item = pending.pop(0)
            if index in changed:
                item = _with_change(item, variant)
                changed_items += 1
            if rng.random() < 0.02:
                out.write(f"{rng.choice(_HEADINGS[item.lang])}\n\n")
            block = _block(rng, item)
            out.write(block)
            recent.append(block)
            keys.add(item.key)
            per_agency[item.agency] = per_agency.get(item.agency, 0) + 1
    busiest = max(sorted(per_agency), key=lambda name: per_agency[name])
    return DigestInfo(
        path=path,
        blocks=count,
        unique=len(keys),
        repeats=repeats,
        changed=changed_items,
        bytes=path.stat().st_size,
        agencies=len(per_agency),
        busiest=busiest,
    )
