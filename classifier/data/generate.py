"""Generate the shipped demo sentiment dataset, `sentiment.csv`.

No machine of ours reaches a model hub or a dataset host, so the demo model learns from reviews
written here from templates. A fixed seed makes `python -m classifier.data.generate` rewrite the
file byte for byte. Every review is unambiguous on purpose: one polarity per review, neutral
context sentences for length, and negations only in forms whose meaning is clear ("not good at
all" is negative, "not bad at all" is positive).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20240601
ROWS = 4000
CSV_PATH = Path(__file__).with_name("sentiment.csv")

NEGATIVE, POSITIVE = 0, 1


@dataclass(frozen=True)
class Domain:
    things: tuple[str, ...]
    good: tuple[str, ...]
    bad: tuple[str, ...]
    context: tuple[str, ...]
    again_good: str
    again_bad: str


# fmt: off
# Vocabulary tables stay packed: one per line would make this file five times as long.
DOMAINS = (
    Domain(
        things=("blender", "kettle", "laptop", "phone", "vacuum cleaner", "backpack", "desk lamp",
                "charger", "coffee machine", "keyboard", "mattress", "jacket", "speaker"),
        good=("the battery lasts all day", "it feels solid and well made", "setup took two minutes",
              "it works exactly as described", "it works perfectly", "the build quality is excellent",
              "it arrived early and well packed", "it is quiet and powerful"),
        bad=("the battery dies within an hour", "it stopped working after a week",
             "it feels cheap and flimsy", "the buttons broke on the first day",
             "it arrived scratched and dented", "it overheats constantly",
             "half of the features do not work", "it broke after a day"),
        context=("I bought it last month.", "I ordered it for my sister's birthday.",
                 "I have been using it for two weeks.", "It replaced my old one.",
                 "I use it every morning.", "It came in a plain brown box."),
        again_good="I would buy it again",
        again_bad="I would never buy it again",
    ),
    Domain(
        things=("movie", "film", "sequel", "documentary", "show", "series", "thriller", "comedy"),
        good=("the acting is superb", "the plot kept me hooked", "the soundtrack is beautiful",
              "the ending was perfect", "every scene looks gorgeous", "the jokes really land",
              "it is exciting from start to finish",
              "the cast has great chemistry"),
        bad=("the plot makes no sense", "the acting is wooden", "the dialogue is painfully bad",
             "I nearly fell asleep", "the ending ruined everything", "the jokes fall flat",
             "it is boring and far too long",
             "it drags on for far too long"),
        context=("I watched it with my family.", "We saw it on opening night.",
                 "I streamed it on Sunday evening.", "It runs just over two hours.",
                 "A friend suggested it to me.", "I watched the whole season in one weekend."),
        again_good="I would happily watch it again",
        again_bad="I would never watch it again",
    ),
    Domain(
        things=("restaurant", "cafe", "pizza place", "meal", "dinner", "sushi bar", "bakery",
                "lunch", "burger joint"),
        good=("the food was delicious", "the staff were warm and attentive",
              "the portions were generous", "the pasta was cooked perfectly",
              "the desserts are heavenly", "every dish was full of flavor",
              "the service was quick and friendly"),
        bad=("the food was cold and bland", "the waiter was rude to us",
             "we waited an hour for our order", "the fish tasted off",
             "the tables were sticky and dirty", "the bill was wrong twice",
             "my steak was burnt"),
        context=("We went there on a Friday night.", "We booked a table for four.",
                 "I ordered the chicken and a salad.", "It is just around the corner from my office.",
                 "We sat by the window.", "We came for my father's birthday."),
        again_good="we will definitely come back",
        again_bad="we will never go back",
    ),
    Domain(
        things=("hotel", "room", "resort", "stay", "guesthouse", "apartment", "hostel"),
        good=("the room was spotless", "the bed was so comfortable",
              "the staff went out of their way to help", "the view was stunning",
              "breakfast was excellent", "check in was quick and easy",
              "the pool was clean and quiet"),
        bad=("the room smelled of smoke", "the sheets were stained",
             "the front desk was unhelpful", "the air conditioning never worked",
             "it was noisy all night", "there was mold in the shower",
             "the wifi never worked"),
        context=("We stayed three nights in March.", "We were there for a conference.",
                 "Our room was on the fifth floor.", "It is close to the train station.",
                 "We booked it through a travel site.", "We arrived late in the evening."),
        again_good="we would stay here again",
        again_bad="we will never stay here again",
    ),
    Domain(
        things=("customer service", "delivery service", "repair shop", "bank", "phone company",
                "moving company", "internet provider", "insurance company"),
        good=("they fixed the problem on the first call", "the agent was patient and kind",
              "everything was sorted within a day", "they kept me informed the whole time",
              "the technician was friendly and fast", "they refunded me straight away"),
        bad=("nobody ever called me back", "I was on hold for two hours",
             "they charged me twice", "the agent hung up on me",
             "the problem is still not fixed", "they lost my package and blamed me"),
        context=("I called them about my internet connection.", "I contacted them last Tuesday.",
                 "I have been a customer for five years.", "I sent them an email first.",
                 "My order number was on the receipt.", "I needed help with a bill."),
        again_good="I will keep using them",
        again_bad="I am switching to another company",
    ),
    Domain(
        things=("app", "update", "website", "software", "game", "browser extension"),
        good=("it is fast and intuitive", "the new version fixed every bug",
              "the design is clean and simple", "syncing works flawlessly",
              "it saves me hours every week", "the menus are easy to follow"),
        bad=("it crashes every time I open it", "the latest version made everything slower",
             "it drains my battery", "the ads are unbearable", "I lost all my data",
             "the login never works"),
        context=("I installed it on my phone.", "I use it for work every day.",
                 "I downloaded it last week.", "My whole team switched to it.",
                 "I tried it on my laptop too.", "It asked for a lot of permissions."),
        again_good="I would recommend it to any friend",
        again_bad="I uninstalled it right away",
    ),
    Domain(
        things=("book", "novel", "audiobook", "cookbook", "biography", "memoir"),
        good=("the characters feel real", "I could not put it down", "the writing is beautiful",
              "the story is gripping", "every chapter surprised me", "the recipes work perfectly"),
        bad=("the characters are flat", "I gave up halfway through", "the writing is clumsy",
             "the story drags on forever", "the chapters are full of typos",
             "none of the recipes worked"),
        context=("I read it on holiday.", "It was a gift from my aunt.",
                 "I finished it in three evenings.", "It is the second book in the series.",
                 "I listened to it on my commute.", "Our book club picked it this month."),
        again_good="I will read it again",
        again_bad="I want my money back",
    ),
)

# Common words appear more than once, as they do in real reviews; it also keeps each word's plain
# use well ahead of its negated use ("bad" vs "not bad at all").
GOOD_ADJ = ("excellent", "great", "great", "good", "good", "wonderful", "fantastic", "amazing",
            "superb", "brilliant", "outstanding", "lovely", "perfect", "delightful", "impressive",
            "terrific", "awesome", "good", "fabulous", "marvelous", "enjoyable", "pleasant",
            "reliable", "fun")
BAD_ADJ = ("terrible", "terrible", "bad", "bad", "bad", "awful", "horrible", "dreadful",
           "disappointing", "useless", "pathetic", "bad", "poor", "lousy", "atrocious",
           "frustrating", "abysmal", "appalling", "boring", "dull", "overpriced", "unreliable",
           "annoying", "mediocre")
INTENSIFIERS = ("", "", "", "very", "really", "extremely", "incredibly", "truly", "absolutely",
                "so", "genuinely", "remarkably")
GOOD_FEEL = ("I love it", "I love this", "I absolutely love it", "we loved it",
             "I enjoyed every minute", "I am so happy with it", "I would recommend it to anyone",
             "worth every penny", "highly recommended", "five stars", "I am very pleased",
             "it made my day", "best decision I made this year", "I could not be happier",
             "best purchase ever", "the best thing I ever bought", "best experience ever")
BAD_FEEL = ("I hate it", "I hate this", "I really hate it", "we hated it", "I regret it",
            "I would not recommend it to anyone", "a complete waste of money", "one star",
            "avoid at all costs", "never again", "I am very disappointed", "it ruined my day",
            "worst decision I made this year", "I could not be more unhappy",
            "worst purchase ever", "the worst thing I ever bought", "worst experience ever")
# Neutral lead-ins; reported speech only goes before a full clause. What follows decides the label.
LEAD_INS = ("To be honest, ", "Well, ", "Update: ", "In short, ", "So, ", "Long story short, ",
            "Everyone agrees: ", "First impressions: ", "For the record, ")
SPEECH = ("My friend said ", "He said ", "She said ", "My husband thinks ", "My wife says ")
CLAUSE_STARTS = ("The ", "It ", "This ", "I ")
# Negations whose polarity no reader would dispute: adjectival ones follow "is", clauses stand alone.
GOOD_NEGATED_ADJ = ("not bad at all", "not disappointing in the slightest",
                    "not overpriced at all", "not a letdown at all")
BAD_NEGATED_ADJ = ("not good at all", "not worth the money", "not great at all", "not worth it",
                   "not good", "not great")
GOOD_NEGATED_CLAUSE = ("no complaints at all", "nothing to complain about", "not a single problem",
                       "it never lets me down", "I have nothing but praise for it")
BAD_NEGATED_CLAUSE = ("nothing good about it", "it never works properly", "nothing went right",
                      "I have nothing good to say", "no redeeming qualities")

# fmt: on


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" and not word.startswith("use") else "a"


def _adj_phrase(rng: random.Random, adjectives: tuple[str, ...]) -> str:
    return " ".join(w for w in (rng.choice(INTENSIFIERS), rng.choice(adjectives)) if w)


def _opinion(rng: random.Random, domain: Domain, positive: bool) -> str:
    """One sentence that carries the review's polarity on its own."""
    adj = GOOD_ADJ if positive else BAD_ADJ
    feel = rng.choice(GOOD_FEEL if positive else BAD_FEEL)
    aspect = rng.choice(domain.good if positive else domain.bad)
    negated_adj = rng.choice(GOOD_NEGATED_ADJ if positive else BAD_NEGATED_ADJ)
    # "not <good word>" is plainly negative; "not <bad word>" is not plainly positive, so praise
    # by negation sticks to the curated phrases in GOOD_NEGATED_ADJ.
    not_word = negated_adj if positive else f"not {rng.choice(GOOD_ADJ)}{rng.choice(('', ' at all'))}"
    negated_clause = rng.choice(GOOD_NEGATED_CLAUSE if positive else BAD_NEGATED_CLAUSE)
    thing = rng.choice(domain.things)
    word = rng.choice(adj)
    templates = (
        lambda: f"The {thing} is {_adj_phrase(rng, adj)}.",
        # Past tense and paired adjectives, as most reviews are written.
        lambda: f"The {thing} was {_adj_phrase(rng, adj)}.",
        lambda: f"The {thing} was {rng.choice(adj)} and {_adj_phrase(rng, adj)}.",
        lambda: f"{_cap(feel)}, it is {_adj_phrase(rng, adj)}.",
        lambda: f"This is {_adj_phrase(rng, adj)}, {feel}.",
        lambda: f"What {_article(word)} {word} {thing}!",
        lambda: f"{_cap(word)} {thing}, {feel}.",
        lambda: f"{_cap(aspect)}.",
        lambda: f"Honestly, {aspect}.",
        # Negation twice over: "not good" vs "not bad" is the one thing word counts cannot learn.
        lambda: f"The {thing} is {negated_adj}.",
        lambda: f"{_cap(negated_adj)}.",
        lambda: f"It is {not_word}, {feel}.",
        lambda: f"{_cap(negated_clause)}, {feel}.",
        lambda: f"{_cap(feel)}, {negated_clause}.",
        lambda: f"{_cap(feel)}.",
        lambda: f"{_cap(_adj_phrase(rng, adj))} {thing}.",
        lambda: f"{_cap(feel)} because {aspect}.",
        lambda: f"{_cap(domain.again_good if positive else domain.again_bad)}.",
        lambda: f"Overall {_article(word)} {word} experience.",
    )
    return rng.choice(templates)()


def _supporting(rng: random.Random, domain: Domain, positive: bool) -> str:
    """A sentence that adds length: mostly neutral context, sometimes more of the same polarity.

    Mostly neutral, so a long review usually still hinges on one opinion sentence and the model
    has to learn every cue rather than lean on the few that pile up in long reviews.
    """
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(domain.context)
    if roll < 0.8:
        return f"{_cap(rng.choice(domain.good if positive else domain.bad))}."
    if roll < 0.9:
        return f"{_cap(domain.again_good if positive else domain.again_bad)}."
    return f"{_cap(rng.choice(GOOD_FEEL if positive else BAD_FEEL))}."


def _style(rng: random.Random, text: str) -> str:
    """Casual writing: some reviews are lower case, drop the full stop, or shout."""
    roll = rng.random()
    if roll < 0.1:
        return text.lower()
    if roll < 0.18 and text.endswith("."):
        return text[:-1]
    if roll < 0.24 and text.endswith("."):
        return text[:-1] + "!"
    return text


def _framed(rng: random.Random, sentence: str) -> str:
    """Sometimes wrap the opinion in a neutral frame, so framing words carry no polarity."""
    if rng.random() >= 0.2:
        return sentence
    frame = rng.choice(LEAD_INS + SPEECH if sentence.startswith(CLAUSE_STARTS) else LEAD_INS)
    return frame + sentence[:1].lower() + sentence[1:] if sentence[:2] != "I " else frame + sentence


def review(rng: random.Random, positive: bool) -> str:
    domain = rng.choice(DOMAINS)
    # Mostly short reviews with a long tail, so length-aware batching has something to do.
    extra = rng.choices((0, 1, 2, 3, 4, 5), weights=(40, 22, 16, 11, 7, 4))[0]
    sentences = [_framed(rng, _opinion(rng, domain, positive))]
    for _ in range(extra):
        sentence = _supporting(rng, domain, positive)
        # Repeating a sentence reads as a generator, not a person; drop it instead.
        if sentence not in sentences:
            sentences.append(sentence)
    if extra and rng.random() < 0.5:
        sentences.insert(0, sentences.pop())
    return _style(rng, " ".join(sentences))


def generate(rows: int = ROWS, seed: int = SEED) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    while len(out) < rows:
        label = len(out) % 2
        text = review(rng, positive=label == POSITIVE)
        if text in seen or len(text.split()) < 3:
            continue
        seen.add(text)
        out.append((text, label))
    return out


def write_csv(rows: list[tuple[str, int]], path: Path = CSV_PATH) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("text", "label"))
        writer.writerows(rows)


def main() -> None:
    rows = generate()
    write_csv(rows)
    print(f"wrote {len(rows)} rows to {CSV_PATH}")


if __name__ == "__main__":
    main()
