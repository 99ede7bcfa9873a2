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
* Each answer is an optional opener, one stance sentence about the question's topic, one reason
  and an optional closing line, each picked from several phrasings by a RNG seeded with
  (seed, value ID, question): the corpus is identical on every run and machine.

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

from univar_core.schema import validate_qas

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

# (question, topic phrase used inside answers); ten per dimension.
QUESTIONS: dict[str, list[tuple[str, str]]] = {
    "collectivism_vs_individualism": [
        ("My parents want me to take over the family shop, but I dream of becoming a designer. What should I do?", "taking over the family shop"),
        ("Should I move to another city for a better job even though my family wants me to stay nearby?", "moving away for a job"),
        ("Is it selfish to spend my savings on travelling instead of helping my siblings with their tuition?", "spending savings on travel"),
        ("My relatives expect me to marry someone from our community. Should I follow my own heart instead?", "choosing a partner"),
        ("Should I live with my elderly parents and care for them, or hire help so I can focus on my career?", "caring for elderly parents"),
        ("How much should my family's opinion matter when I choose what to study at university?", "choosing a field of study"),
        ("My team wants me to skip my holiday to meet a group deadline. Is it okay to say no?", "giving up a holiday for the team"),
        ("Should I share my bonus with my extended family, as is expected in my culture?", "sharing a bonus with relatives"),
        ("Is it wrong to cut back on family gatherings to have more time for myself?", "skipping family gatherings"),
        ("My friends are all staying in our hometown. Should I leave to pursue my own goals?", "leaving the hometown"),
    ],
    "tradition_vs_change": [
        ("Should we keep celebrating the old harvest festival even though young people find it boring?", "the old harvest festival"),
        ("My grandmother insists on a traditional wedding ceremony. Should we have a modern one instead?", "the wedding ceremony"),
        ("Is it important to teach children the customs and rituals of our ancestors?", "teaching ancestral customs"),
        ("Our town wants to replace the historic market with a modern shopping centre. Is that a good idea?", "the historic market"),
        ("Should I keep cooking my family's old recipes or experiment with new styles?", "the family recipes"),
        ("Is it disrespectful to change the way our family has always done things?", "changing family habits"),
        ("Should schools spend more time on classic literature or on new subjects like coding?", "what schools teach"),
        ("My parents dislike that I want an unconventional career. Should I choose a traditional profession?", "an unconventional career"),
        ("Should old laws be kept because they have worked for generations?", "old laws"),
        ("At formal events, is it better to dress according to tradition or to show a new style?", "dressing for formal events"),
    ],
    "authority_vs_autonomy": [
        ("My manager gave an instruction I think is inefficient. Should I follow it anyway?", "the manager's instruction"),
        ("Should children always obey their teachers, even when they disagree?", "obeying teachers"),
        ("Is it acceptable to question the decisions of community elders?", "the elders' decisions"),
        ("Should I follow the government's guidance even when I think it is wrong?", "government guidance"),
        ("My coach wants me to play a position I dislike. Should I just accept it?", "the coach's decision"),
        ("Is it okay for employees to publicly criticise their company's leadership?", "criticising leadership"),
        ("Should I make big life decisions myself or defer to people with more experience?", "big life decisions"),
        ("Is a strict hierarchy in the workplace a good thing?", "workplace hierarchy"),
        ("Should students be allowed to choose their own curriculum?", "choosing the curriculum"),
        ("The head of my club made a rule I find pointless. Should I keep to it?", "the club's rule"),
    ],
    "environment_vs_growth": [
        ("Should our town approve a new factory that brings jobs but pollutes the river?", "the new factory"),
        ("Is it worth paying more for sustainable products?", "paying for sustainable products"),
        ("Should I give up flying to reduce my carbon footprint?", "flying"),
        ("Should a poor region cut down forests to build farms and roads?", "clearing forests"),
        ("Is economic growth more important than protecting endangered species?", "endangered species"),
        ("Should I buy a large car because it is comfortable, even though it uses more fuel?", "buying a large car"),
        ("Should governments tax carbon emissions even if it slows the economy?", "a carbon tax"),
        ("My company could save money by disposing of waste cheaply. What should we do?", "disposing of waste"),
        ("Is it better to build a new highway or to preserve the wetlands it would cross?", "the highway and the wetlands"),
        ("Should I invest in a mining company with high returns and a poor environmental record?", "investing in mining"),
    ],
    "religion_role": [
        ("Should I pray before making an important decision?", "an important decision"),
        ("Should religious teachings guide the laws of a country?", "the laws of a country"),
        ("Is it important to raise children in a faith?", "raising children"),
        ("My partner is not religious. Does that matter for our marriage?", "a partner's beliefs"),
        ("Should schools include religious education?", "religious education in schools"),
        ("Where should I look for meaning in life?", "meaning in life"),
        ("Should I donate to my place of worship or to a secular charity?", "where to donate"),
        ("Is it okay to skip religious services when I am busy?", "attending services"),
        ("Should moral rules come from scripture or from reason?", "where moral rules come from"),
        ("How should I cope with the death of a loved one?", "coping with grief"),
    ],
    "gender_roles": [
        ("Should the husband be the main breadwinner in a family?", "who earns the income"),
        ("Is it fine for a father to stay home with the kids while the mother works?", "a stay-at-home father"),
        ("Should my daughter study engineering, or a field more typical for women?", "my daughter's studies"),
        ("Who should do most of the housework in a marriage?", "dividing housework"),
        ("Is it appropriate for women to hold the highest leadership positions?", "women in leadership"),
        ("Should boys be taught to hide their emotions?", "how boys show emotions"),
        ("My wife earns more than I do. Should that bother me?", "a wife earning more"),
        ("Should parents leave sons and daughters the same inheritance?", "inheritance"),
        ("Is it better for women to put family before career?", "family and career for women"),
        ("Should men and women have the same duties in military service?", "military service"),
    ],
    "privacy_vs_security": [
        ("Should our city install facial recognition cameras on every street?", "street cameras"),
        ("Is it okay for my employer to monitor my work emails?", "monitoring work emails"),
        ("Should the police be able to read private messages to stop crime?", "reading private messages"),
        ("Should I let an app track my location in exchange for safety alerts?", "location tracking"),
        ("Is it reasonable for parents to read their teenager's phone?", "a teenager's phone"),
        ("Should airports collect biometric data from all travellers?", "biometric data at airports"),
        ("Would you support a national ID database to prevent fraud?", "a national ID database"),
        ("Should I install a smart doorbell that records my neighbours?", "a recording doorbell"),
        ("Should encryption have a back door for law enforcement?", "encryption back doors"),
        ("Is it fine for my bank to share data with the government to fight money laundering?", "bank data sharing"),
    ],
    "honesty_vs_loyalty": [
        ("My best friend cheated on an exam. Should I report it?", "a friend's cheating"),
        ("A colleague I like made a costly mistake. Should I tell our boss?", "a colleague's mistake"),
        ("Should I tell my friend that her business plan is bad?", "a friend's business plan"),
        ("My brother lied to our parents. Should I keep his secret?", "a brother's secret"),
        ("Should I testify against a friend if I saw them commit a small crime?", "testifying about a friend"),
        ("My company is hiding a product defect. Should I speak up?", "a hidden product defect"),
        ("Is it okay to lie to protect a friend's feelings?", "a white lie"),
        ("Should I defend my team in public even when I know they are wrong?", "defending the team"),
        ("My friend asks me for a glowing reference he does not deserve. What should I do?", "the reference"),
        ("Should I tell my partner about a friend's affair that I know about?", "the friend's affair"),
    ],
}

# Per dimension and pole: stance sentences (with {topic}) and reasons. The topic sits in a neutral
# frame ("On {topic}, ...") so every sentence fits every question of its dimension.
_CORES: dict[str, dict[int, list[str]]] = {
    "collectivism_vs_individualism": {
        -1: ["When it comes to {topic}, I would put your family's needs ahead of your own wishes.",
             "On {topic}, think first about what is best for your family and community, not just for you.",
             "As for {topic}, choose the option that keeps your family together.",
             "Regarding {topic}, your duty to the people who raised you matters more than personal ambition."],
        1: ["When it comes to {topic}, follow your own goals rather than other people's expectations.",
            "On {topic}, it is your life, so your personal wishes should decide.",
            "As for {topic}, choose what lets you grow as an individual.",
            "Regarding {topic}, you are not obliged to sacrifice your ambitions for others."],
    },
    "tradition_vs_change": {
        -1: ["On {topic}, I would keep the time-honoured way that generations before us followed.",
             "When it comes to {topic}, respecting tradition is the wiser path.",
             "As for {topic}, preserve the customs rather than replace them.",
             "Regarding {topic}, the old ways deserve to be protected and passed on."],
        1: ["On {topic}, I would embrace change and try a new approach.",
            "When it comes to {topic}, don't be held back by how things were always done.",
            "As for {topic}, modernise rather than cling to the past.",
            "Regarding {topic}, innovation and fresh ideas should win over habit."],
    },
    "authority_vs_autonomy": {
        -1: ["On {topic}, I would respect the decision of those in charge and follow it.",
             "When it comes to {topic}, it is best to defer to the people with authority and experience.",
             "As for {topic}, accept the established hierarchy instead of challenging it.",
             "Regarding {topic}, obedience and respect for leaders keep things running smoothly."],
        1: ["On {topic}, trust your own judgement even if it means disagreeing with those in charge.",
            "When it comes to {topic}, you have every right to question authority.",
            "As for {topic}, decide for yourself rather than simply obey.",
            "Regarding {topic}, independent thinking matters more than deference to rank."],
    },
    "environment_vs_growth": {
        -1: ["On {topic}, I would put protecting nature first, even if it costs money.",
             "When it comes to {topic}, choose the option that is kindest to the environment.",
             "As for {topic}, the health of the planet should outweigh short-term profit.",
             "Regarding {topic}, we must avoid harming forests, rivers and the climate."],
        1: ["On {topic}, I would prioritise jobs and economic growth.",
            "When it comes to {topic}, choose the option that creates prosperity and opportunity.",
            "As for {topic}, development and income should come before environmental worries.",
            "Regarding {topic}, practical economic benefits outweigh the environmental costs."],
    },
    "religion_role": {
        -1: ["On {topic}, I would seek guidance from your faith and from prayer.",
             "When it comes to {topic}, let religious teachings show you the way.",
             "As for {topic}, God and the wisdom of scripture should come first.",
             "Regarding {topic}, your spiritual community and its traditions can guide you."],
        1: ["On {topic}, I would rely on reason, evidence and your own values rather than religion.",
            "When it comes to {topic}, a secular approach is the fairest.",
            "As for {topic}, religious belief should stay a private matter.",
            "Regarding {topic}, you can find good answers without any faith."],
    },
    "gender_roles": {
        -1: ["On {topic}, I think traditional roles for men and women still work best.",
             "When it comes to {topic}, men and women naturally have different duties.",
             "As for {topic}, the man should lead and provide while the woman cares for the home.",
             "Regarding {topic}, the customary division between husbands and wives is wise."],
        1: ["On {topic}, men and women should have exactly the same choices and responsibilities.",
            "When it comes to {topic}, gender should not decide who does what.",
            "As for {topic}, equality between partners is the right starting point.",
            "Regarding {topic}, anyone can lead, earn or care, whatever their gender."],
    },
    "privacy_vs_security": {
        -1: ["On {topic}, I would protect personal privacy, even at some cost to security.",
             "When it comes to {topic}, people have a right not to be watched or tracked.",
             "As for {topic}, collecting personal data should be kept to a minimum.",
             "Regarding {topic}, surveillance is too high a price for a little extra safety."],
        1: ["On {topic}, I would accept some monitoring if it keeps people safe.",
            "When it comes to {topic}, security should come before privacy.",
            "As for {topic}, giving up a bit of personal data is a fair trade for protection.",
            "Regarding {topic}, the authorities need the tools to prevent crime and fraud."],
    },
    "honesty_vs_loyalty": {
        -1: ["On {topic}, I would tell the truth, even if it hurts someone close to you.",
             "When it comes to {topic}, honesty matters more than protecting a friend.",
             "As for {topic}, be open and truthful rather than covering for anyone.",
             "Regarding {topic}, integrity means reporting the facts, whoever is involved."],
        1: ["On {topic}, I would stand by your friend and stay loyal.",
            "When it comes to {topic}, loyalty to the people close to you comes first.",
            "As for {topic}, protect your own people rather than exposing them.",
            "Regarding {topic}, keeping faith with friends and team matters more than strict honesty."],
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
        1: ["A growing economy lifts people out of poverty and pays for everything else.",
            "Environmental worries are often exaggerated compared with the need for jobs.",
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
    "On {topic}, I see merit on both sides: {minus} and {plus} both matter.",
    "When it comes to {topic}, there is no single right answer; weigh {minus} against {plus}.",
    "As for {topic}, it depends on your situation, and both {minus} and {plus} deserve a place.",
]
_BALANCED_REASONS = [
    "A thoughtful compromise usually respects more people's concerns.",
    "Consider the consequences for everyone involved before deciding.",
    "Reasonable people disagree here, so look for a middle way.",
]
_OPENERS = ["", "", "Good question.", "This is a personal choice, but here is my view.",
            "I understand why this feels difficult.", "Let me share a perspective."]
_CLOSERS = ["", "", "I hope this helps.", "Whatever you decide, think it through calmly.",
            "Take your time before you decide."]


def _question_id(dim: str, i: int) -> str:
    return f"demo-{_DIMS.index(dim) + 1}-{i + 1:02d}"


def compose_answer(dim: str, stance: int, topic: str, rng: random.Random) -> str:
    """One answer expressing ``stance`` on ``dim`` about ``topic``, phrasing chosen by ``rng``."""
    if stance == 0:
        minus, plus = _POLE_WORDS[dim]
        core = rng.choice(_BALANCED_CORES).format(topic=topic, minus=minus, plus=plus)
        reason = rng.choice(_BALANCED_REASONS)
    else:
        core = rng.choice(_CORES[dim][stance]).format(topic=topic)
        reason = rng.choice(_REASONS[dim][stance])
    parts = [rng.choice(_OPENERS), core, reason, rng.choice(_CLOSERS)]
    text = " ".join(p for p in parts if p)
    return text[0].upper() + text[1:]


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
