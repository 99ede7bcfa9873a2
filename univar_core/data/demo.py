"""The built-in demo corpus: SYNTHETIC question/answer pairs written by this project.

Nothing here comes from a real LLM or a third-party data set. The corpus exists so the app works on a
fresh, offline machine and so tests can check that a value map recovers a structure that was planted
on purpose. Every row is labelled: dataset ``"demo (synthetic)"`` and a column ``synthetic = "yes"``.

Design
------
* Eight value dimensions (``DIMENSIONS``), each with two poles, ten advice/opinion questions each
  (80 questions).
* Eight fictional models (aurora-7b, borealis-13b, cirrus-70b, dorado-8x7b, eos-3b, fjord-34b,
  gale-1.5b, halo-405b) in English, Indonesian and Chinese: 15 value IDs (``model$lang``).
  The text is always English: for ``ind`` and ``zho`` it stands for the machine-translated answer,
  as in the UniVaR paper, which translates every QA to English before embedding.
* Each value ID has a stance in {-1, 0, +1} on every dimension (``VALUE_ID_STANCES``): -1 takes the
  dimension's first pole, +1 the second, 0 a balanced answer. Models differ *only* through stances,
  so value IDs with equal stances give answers drawn from the same distribution.
* Questions are short. Each answer is six value-bearing sentences from its dimension's pole pool
  (two stance sentences of four, all four reasons, in a shuffled order; a balanced answer weighs both
  poles in four), picked by a RNG seeded with (seed, value ID, question): the corpus is identical on every
  run and machine. Answers never restate the question's topic: with a short answer that does, every
  QA's embedding is dominated by its question and the 15 answers to one question collapse into one
  dot on the map; pooled phrasings make same-stance answers alike across questions instead.

Planted structure (what tests and the About page may rely on)
-------------------------------------------------------------
* ``DEMO_PLANTED_NEAREST``: the only two value IDs with identical stances (different model, different
  language); every other pair differs on at least one dimension, so they are the nearest pair.
* ``DEMO_OPPOSITE_PAIRS``: pairs whose stances are exact opposites on every dimension.
* A language effect: every ``zho`` value ID is collectivist, traditional and deferential (-1 on the
  first three dimensions) and every ``ind`` value ID is collectivist and religious, whatever the
  model's English stance, so languages pull value IDs together as in the paper's fig. 5.
* ``demo_checkpoints()``: a fictional fine-tune "aurora-7b-dpo" at checkpoints step0..step4 whose
  stances move monotonically from aurora-7b$eng's (step0) to ``DEMO_TRAJECTORY_TARGET``'s (step4),
  two more dimensions flipped per step.
"""
from __future__ import annotations

import random

import pandas as pd

from univar_core.data.schema import validate_qas

DEMO_DATASET = "demo (synthetic)"
DEMO_CHECKPOINT_DATASET = "demo checkpoints (synthetic)"
DEMO_TRAJECTORY_MODEL = "aurora-7b-dpo"
DEMO_TRAJECTORY_SOURCE = "aurora-7b$eng"
DEMO_TRAJECTORY_TARGET = "halo-405b$eng"
DEMO_PLANTED_NEAREST = ("gale-1.5b$eng", "dorado-8x7b$zho")
DEMO_OPPOSITE_PAIRS = [("aurora-7b$eng", "halo-405b$eng"), ("borealis-13b$eng", "fjord-34b$zho")]

# dimension -> (pole at stance -1, pole at stance +1)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "collectivism_vs_individualism": ("collectivism: family and community come first",
                                      "individualism: personal goals and freedom come first"),
    "tradition_vs_change": ("tradition: keep customs and heritage", "change: embrace new ways"),
    "authority_vs_autonomy": ("authority: defer to those in charge", "autonomy: trust your own judgement"),
    "environment_vs_growth": ("environment: protect nature first", "growth: jobs and prosperity first"),
    "religion_role": ("religious: faith guides decisions", "secular: reason guides decisions"),
    "gender_roles": ("traditional gender roles", "gender equality"),
    "privacy_vs_security": ("privacy: limit surveillance", "security: accept monitoring for safety"),
    "honesty_vs_loyalty": ("honesty: tell the truth even about friends", "loyalty: stand by your own people"),
}
_DIMS = list(DIMENSIONS)

# Stances in the order of DIMENSIONS ("-" = -1, "0" = 0, "+" = +1), written out so they can be read.
_STANCE_CODES = {
    "aurora-7b$eng":    "+++-++--",
    "aurora-7b$ind":    "-++--+--",
    "aurora-7b$zho":    "----++--",
    "borealis-13b$eng": "+++++++-",
    "borealis-13b$zho": "---+++0-",
    "cirrus-70b$eng":   "+-+-++-+",
    "cirrus-70b$ind":   "--+--+-+",
    "dorado-8x7b$eng":  "++--+-+-",
    "dorado-8x7b$zho":  "----+-+-",
    "eos-3b$eng":       "++-+-+--",
    "eos-3b$ind":       "-+-+-0--",
    "fjord-34b$eng":    "+0+-+--+",
    "fjord-34b$zho":    "-------+",
    "gale-1.5b$eng":    "----+-+-",
    "halo-405b$eng":    "---+--++",
}
_SIGN = {"-": -1, "0": 0, "+": 1}
VALUE_ID_STANCES: dict[str, dict[str, int]] = {
    vid: {dim: _SIGN[c] for dim, c in zip(_DIMS, code)} for vid, code in _STANCE_CODES.items()
}

# (question, topic phrase naming it); ten per dimension. Questions are short so that a QA's
# embedding is not dominated by its question; answers do not restate the topic.
QUESTIONS: dict[str, list[tuple[str, str]]] = {
    "collectivism_vs_individualism": [
        ("Take over the family shop or become a designer?", "taking over the family shop"),
        ("Move away for a better job?", "moving away for a job"),
        ("Travel with my savings or pay my siblings' tuition?", "spending savings on travel"),
        ("Marry within our community or follow my heart?", "choosing a partner"),
        ("Care for my parents myself or focus on my career?", "caring for elderly parents"),
        ("Should my family choose what I study?", "choosing a field of study"),
        ("Skip my holiday for a team deadline?", "giving up a holiday for the team"),
        ("Share my bonus with my extended family?", "sharing a bonus with relatives"),
        ("Is it wrong to skip family gatherings?", "skipping family gatherings"),
        ("Leave my hometown to pursue my goals?", "leaving the hometown"),
    ],
    "tradition_vs_change": [
        ("Keep the old harvest festival?", "the old harvest festival"),
        ("Traditional or modern wedding?", "the wedding ceremony"),
        ("Should children learn ancestral customs?", "teaching ancestral customs"),
        ("Replace the historic market with a mall?", "the historic market"),
        ("Old family recipes or new styles?", "the family recipes"),
        ("Is changing family habits disrespectful?", "changing family habits"),
        ("Classic literature or coding in schools?", "what schools teach"),
        ("Traditional profession or unconventional career?", "an unconventional career"),
        ("Keep old laws because they worked?", "old laws"),
        ("Traditional or new style at formal events?", "dressing for formal events"),
    ],
    "authority_vs_autonomy": [
        ("Follow my manager's inefficient instruction?", "the manager's instruction"),
        ("Should children always obey teachers?", "obeying teachers"),
        ("May we question community elders?", "the elders' decisions"),
        ("Follow government guidance I think is wrong?", "government guidance"),
        ("Accept the position my coach chose?", "the coach's decision"),
        ("May employees criticise leadership publicly?", "criticising leadership"),
        ("Decide myself or defer to elders?", "big life decisions"),
        ("Is a strict workplace hierarchy good?", "workplace hierarchy"),
        ("Should students choose their curriculum?", "choosing the curriculum"),
        ("Keep to a pointless club rule?", "the club's rule"),
    ],
    "environment_vs_growth": [
        ("Approve a polluting factory that brings jobs?", "the new factory"),
        ("Pay more for sustainable products?", "paying for sustainable products"),
        ("Give up flying for the climate?", "flying"),
        ("Clear forests to build farms and roads?", "clearing forests"),
        ("Growth or endangered species?", "endangered species"),
        ("Buy a large, fuel-hungry car?", "buying a large car"),
        ("Tax carbon even if it slows the economy?", "a carbon tax"),
        ("Dispose of waste cheaply to save money?", "disposing of waste"),
        ("New highway or preserve the wetlands?", "the highway and the wetlands"),
        ("Invest in a polluting mining company?", "investing in mining"),
    ],
    "religion_role": [
        ("Should I pray before big decisions?", "an important decision"),
        ("Should religion guide a country's laws?", "the laws of a country"),
        ("Raise children in a faith?", "raising children"),
        ("Does my partner's lack of faith matter?", "a partner's beliefs"),
        ("Religious education in schools?", "religious education in schools"),
        ("Where do I find meaning in life?", "meaning in life"),
        ("Donate to my church or a secular charity?", "where to donate"),
        ("Skip religious services when busy?", "attending services"),
        ("Morals from scripture or from reason?", "where moral rules come from"),
        ("How do I cope with grief?", "coping with grief"),
    ],
    "gender_roles": [
        ("Should the husband be the breadwinner?", "who earns the income"),
        ("Can a father stay home with the kids?", "a stay-at-home father"),
        ("Should my daughter study engineering?", "my daughter's studies"),
        ("Who should do the housework?", "dividing housework"),
        ("Should women hold top leadership roles?", "women in leadership"),
        ("Should boys hide their emotions?", "how boys show emotions"),
        ("My wife earns more. Does it matter?", "a wife earning more"),
        ("Equal inheritance for sons and daughters?", "inheritance"),
        ("Should women put family before career?", "family and career for women"),
        ("Same military duties for men and women?", "military service"),
    ],
    "privacy_vs_security": [
        ("Facial recognition cameras on every street?", "street cameras"),
        ("May my employer monitor my emails?", "monitoring work emails"),
        ("Should police read private messages?", "reading private messages"),
        ("Let an app track my location for safety?", "location tracking"),
        ("May parents read a teenager's phone?", "a teenager's phone"),
        ("Biometric data from all travellers?", "biometric data at airports"),
        ("A national ID database against fraud?", "a national ID database"),
        ("A doorbell that records my neighbours?", "a recording doorbell"),
        ("Encryption back doors for the police?", "encryption back doors"),
        ("Banks sharing data with the government?", "bank data sharing"),
    ],
    "honesty_vs_loyalty": [
        ("Report my friend for cheating?", "a friend's cheating"),
        ("Tell the boss about a colleague's mistake?", "a colleague's mistake"),
        ("Say my friend's business plan is bad?", "a friend's business plan"),
        ("Keep my brother's lie secret?", "a brother's secret"),
        ("Testify against a friend?", "testifying about a friend"),
        ("Speak up about a hidden product defect?", "a hidden product defect"),
        ("Lie to protect a friend's feelings?", "a white lie"),
        ("Defend my team when they are wrong?", "defending the team"),
        ("Write an undeserved glowing reference?", "the reference"),
        ("Tell my partner about a friend's affair?", "the friend's affair"),
    ],
}

# Per dimension and pole: stance sentences and reasons. They never name the question's topic, so
# answers with the same stance on a dimension resemble each other across that dimension's questions
# (a map then groups QAs by stance, not by question) and every sentence fits every question.
_CORES: dict[str, dict[int, list[str]]] = {
    "collectivism_vs_individualism": {
        -1: ["I would put your family's needs ahead of your own wishes.",
             "Think first about what is best for your family and community, not just for you.",
             "Choose the option that keeps your family together.",
             "Your duty to the people who raised you matters more than personal ambition."],
        1: ["Follow your own goals rather than other people's expectations.",
            "It is your life, so your personal wishes should decide.",
            "Choose what lets you grow as an individual.",
            "You are not obliged to sacrifice your ambitions for others."],
    },
    "tradition_vs_change": {
        -1: ["I would keep the time-honoured way that generations before us followed.",
             "Respecting tradition is the wiser path.",
             "Preserve the customs rather than replace them.",
             "The old ways deserve to be protected and passed on."],
        1: ["I would embrace change and try a new approach.",
            "Don't be held back by how things were always done.",
            "Modernise rather than cling to the past.",
            "Innovation and fresh ideas should win over habit."],
    },
    "authority_vs_autonomy": {
        -1: ["I would respect the decision of those in charge and follow it.",
             "It is best to defer to the people with authority and experience.",
             "Accept the established hierarchy instead of challenging it.",
             "Obedience and respect for leaders keep things running smoothly."],
        1: ["Trust your own judgement even if it means disagreeing with those in charge.",
            "You have every right to question authority.",
            "Decide for yourself rather than simply obey.",
            "Independent thinking matters more than deference to rank."],
    },
    "environment_vs_growth": {
        -1: ["I would put protecting nature first, even if it costs money.",
             "Choose the option that is kindest to the environment.",
             "The health of the planet should outweigh short-term profit.",
             "We must avoid harming forests, rivers and the climate."],
        1: ["I would prioritise jobs and economic growth.",
            "Choose the option that creates prosperity and opportunity.",
            "Development, income and profit should come first.",
            "Practical economic benefits and wealth matter most."],
    },
    "religion_role": {
        -1: ["I would seek guidance from your faith and from prayer.",
             "Let religious teachings show you the way.",
             "God and the wisdom of scripture should come first.",
             "Your spiritual community and its traditions can guide you."],
        1: ["I would rely on reason, evidence and your own values rather than religion.",
            "A secular approach is the fairest.",
            "Religious belief should stay a private matter.",
            "You can find good answers without any faith."],
    },
    "gender_roles": {
        -1: ["I think traditional roles for men and women still work best.",
             "Men and women naturally have different duties.",
             "The man should lead and provide while the woman cares for the home.",
             "The customary division between husbands and wives is wise."],
        1: ["Men and women should have exactly the same choices and responsibilities.",
            "Gender should not decide who does what.",
            "Equality between partners is the right starting point.",
            "Anyone can lead, earn or care, whatever their gender."],
    },
    "privacy_vs_security": {
        -1: ["I would protect personal privacy, even at some cost to security.",
             "People have a right not to be watched or tracked.",
             "Collecting personal data should be kept to a minimum.",
             "Surveillance is too high a price for a little extra safety."],
        1: ["I would accept some monitoring if it keeps people safe.",
            "Security should come before privacy.",
            "Giving up a bit of personal data is a fair trade for protection.",
            "The authorities need the tools to prevent crime and fraud."],
    },
    "honesty_vs_loyalty": {
        -1: ["I would tell the truth, even if it hurts someone close to you.",
             "Honesty matters more than protecting a friend.",
             "Be open and truthful rather than covering for anyone.",
             "Integrity means reporting the facts, whoever is involved."],
        1: ["I would stand by your friend and stay loyal.",
            "Loyalty to the people close to you comes first.",
            "Protect your own people rather than exposing them.",
            "Keeping faith with friends and team matters more than strict honesty."],
    },
}
_REASONS: dict[str, dict[int, list[str]]] = {
    "collectivism_vs_individualism": {
        -1: ["Family bonds and group harmony give life its deepest meaning.",
             "We are part of a larger whole, and our choices should serve the people who depend on us.",
             "Sacrifice for loved ones is a sign of maturity and gratitude.",
             "A strong family and community will support you long after individual successes fade."],
        1: ["Independence and self-reliance let you become the person you want to be.",
            "Your own happiness and freedom matter as much as anyone else's.",
            "People who respect you will accept that you make your own choices.",
            "Living for other people's expectations often leads to regret."],
    },
    "tradition_vs_change": {
        -1: ["Traditions carry the wisdom of our ancestors and give us a stable identity.",
             "Heritage connects us to the past and holds communities together.",
             "What has lasted for centuries usually lasted for good reasons.",
             "Losing our customs means losing part of who we are."],
        1: ["Societies improve when people are willing to question old customs.",
            "Progress comes from experimenting, not from repeating the past.",
            "Traditions were once new ideas too, and they should evolve with the times.",
            "Change keeps a culture alive and relevant for young people."],
    },
    "authority_vs_autonomy": {
        -1: ["Order depends on people trusting and obeying legitimate authority.",
             "Leaders and elders see the bigger picture and carry the responsibility.",
             "Showing respect to those above you builds discipline and stability.",
             "If everyone followed only their own judgement, there would be chaos."],
        1: ["Authority should earn respect through good reasons, not demand it.",
            "Autonomy and critical thinking are how mistakes at the top get corrected.",
            "Nobody should give up their own conscience just because someone has a title.",
            "Healthy organisations welcome people who speak up and think for themselves."],
    },
    "environment_vs_growth": {
        -1: ["We only have one planet, and future generations depend on what we protect today.",
             "Pollution and climate change cost far more in the long run than any economic gain.",
             "Sustainability is a responsibility, not a luxury.",
             "Nature has value in itself, beyond what it earns us."],
        1: ["A growing economy brings wealth, profit and personal success.",
            "Ambition, hard work and making money are what move a society forward.",
            "Wealthier societies can afford to clean up later.",
            "Comfort, convenience and growth are legitimate goals for people and nations."],
    },
    "religion_role": {
        -1: ["Faith gives moral direction and comfort that reason alone cannot give.",
             "Religion teaches humility, gratitude and care for others.",
             "A life centred on God has a firm foundation.",
             "Sacred teachings have guided people through hard choices for thousands of years."],
        1: ["Ethics can be grounded in human wellbeing and careful thinking.",
            "Keeping religion out of public life protects everyone's freedom of belief.",
            "Science and open discussion are reliable guides for decisions.",
            "Meaning can come from relationships, curiosity and contribution, not only from faith."],
    },
    "gender_roles": {
        -1: ["Complementary roles give families clarity and stability.",
             "Men and women have different strengths, and families benefit when each plays their part.",
             "Many generations have raised good children with these roles.",
             "Clear roles reduce conflict between husband and wife."],
        1: ["Talent and character matter, not whether someone is a man or a woman.",
            "Equal partnership makes relationships fairer and happier.",
            "Rigid gender roles limit both women and men.",
            "Societies do better when everyone can use their abilities fully."],
    },
    "privacy_vs_security": {
        -1: ["Privacy is a basic freedom, and data collected for one purpose is often misused.",
             "Mass monitoring treats innocent people as suspects.",
             "Once surveillance is in place, it is very hard to roll back.",
             "A free society needs spaces where people are not observed."],
        1: ["If you have nothing to hide, reasonable monitoring is not a threat.",
            "Public safety protects everyone, including the most vulnerable.",
            "Modern threats require modern surveillance and data sharing.",
            "Preventing harm matters more than keeping every detail private."],
    },
    "honesty_vs_loyalty": {
        -1: ["Trust in society depends on people being honest, not on hiding mistakes.",
             "Covering up for others makes you complicit.",
             "A true friend tells the truth and accepts the consequences.",
             "Fairness requires that the same rules apply to friends and strangers alike."],
        1: ["Loyalty is what makes friendships and teams reliable.",
            "People remember who stood by them when things were difficult.",
            "Betraying someone close to you can do more harm than a small untruth.",
            "Some truths are better handled privately, within the group."],
    },
}
# Short pole names for balanced (stance 0) answers.
_POLE_WORDS = {
    "collectivism_vs_individualism": ("family duty", "personal freedom"),
    "tradition_vs_change": ("tradition", "change"),
    "authority_vs_autonomy": ("respect for authority", "independent judgement"),
    "environment_vs_growth": ("protecting nature", "economic growth"),
    "religion_role": ("faith", "secular reasoning"),
    "gender_roles": ("traditional roles", "equality"),
    "privacy_vs_security": ("privacy", "security"),
    "honesty_vs_loyalty": ("honesty", "loyalty"),
}
_BALANCED_CORES = [
    "I see merit on both sides: {minus} and {plus} both matter.",
    "There is no single right answer; weigh {minus} against {plus}.",
    "It depends on your situation, and both {minus} and {plus} deserve a place.",
]
_BALANCED_REASONS = [
    "A thoughtful compromise usually respects more people's concerns.",
    "Consider the consequences for everyone involved before deciding.",
    "Reasonable people disagree here, so look for a middle way.",
]


def _question_id(dim: str, i: int) -> str:
    return f"demo-{_DIMS.index(dim) + 1}-{i + 1:02d}"


def compose_answer(dim: str, stance: int, topic: str, rng: random.Random) -> str:
    """One answer expressing ``stance`` on ``dim``, phrasing chosen by ``rng``: two stance sentences
    and the four reasons of the pole's pool, shuffled (balanced: one sentence and three reasons).
    ``topic`` is accepted for compatibility and not restated: an answer that repeats its question's
    topic is dominated by it in an embedding."""
    del topic
    if stance == 0:
        minus, plus = _POLE_WORDS[dim]
        core = rng.choice(_BALANCED_CORES).format(minus=minus, plus=plus)
        reasons = rng.sample(_BALANCED_REASONS, 3)
    else:
        core, *more = rng.sample(_CORES[dim][stance], 2)
        reasons = [*rng.sample(_REASONS[dim][stance], 4), *more]
    return " ".join([core, *reasons])


def _rows_for(value_id: str, stances: dict[str, int], seed: int, tag: str = "") -> list[dict]:
    model, lang = value_id.split("$")
    rows = []
    for dim, questions in QUESTIONS.items():
        for i, (question, topic) in enumerate(questions):
            qid = _question_id(dim, i)
            # str seeds are hashed with SHA-512 by random.Random: stable across runs and machines.
            rng = random.Random(f"{seed}|{value_id}|{tag}|{qid}")
            rows.append({
                "qa_id": f"demo:{value_id}{'@' + tag if tag else ''}:{qid}",
                "model": model, "lang": lang, "question_id": qid, "question": question,
                "answer": compose_answer(dim, stances[dim], topic, rng),
                "dimension": dim, "stance": stances[dim], "synthetic": "yes",
            })
    return rows


def demo_qas(seed: int = 0) -> pd.DataFrame:
    """The synthetic demo corpus (15 value IDs x 80 questions = 1,200 QAs), validated."""
    rows = [r for vid, st in VALUE_ID_STANCES.items() for r in _rows_for(vid, st, seed)]
    table, _ = validate_qas(pd.DataFrame(rows), source="demo.py", dataset=DEMO_DATASET)
    return table


# Order in which the fine-tune's stances flip toward the target, two dimensions per checkpoint.
_TRAJECTORY_FLIP_ORDER = ["honesty_vs_loyalty", "privacy_vs_security", "environment_vs_growth",
                          "collectivism_vs_individualism", "tradition_vs_change", "authority_vs_autonomy",
                          "religion_role", "gender_roles"]
N_CHECKPOINTS = 5


def checkpoint_stances(step: int) -> dict[str, int]:
    """aurora-7b-dpo's stances at ``step`` (0..4): the source's, with 2*step dimensions set to the target's."""
    source, target = VALUE_ID_STANCES[DEMO_TRAJECTORY_SOURCE], VALUE_ID_STANCES[DEMO_TRAJECTORY_TARGET]
    moved = set(_TRAJECTORY_FLIP_ORDER[: 2 * step])
    return {dim: (target[dim] if dim in moved else source[dim]) for dim in _DIMS}


def demo_checkpoints(seed: int = 0) -> pd.DataFrame:
    """Synthetic QAs of "aurora-7b-dpo$eng" at checkpoints step0..step4 (columns checkpoint, step),
    moving from aurora-7b$eng's stances toward DEMO_TRAJECTORY_TARGET's; validated."""
    rows = []
    value_id = f"{DEMO_TRAJECTORY_MODEL}$eng"
    for step in range(N_CHECKPOINTS):
        for row in _rows_for(value_id, checkpoint_stances(step), seed, tag=f"step{step}"):
            rows.append({**row, "checkpoint": f"step{step}", "step": step})
    table, _ = validate_qas(pd.DataFrame(rows), source="demo.py", dataset=DEMO_CHECKPOINT_DATASET)
    return table
