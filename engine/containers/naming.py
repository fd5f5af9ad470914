"""Container ids and names as docker makes them: 64 hex digits, and "adjective_surname"."""
import binascii
import os
import random
import re

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# A short selection in the spirit of moby's namesgenerator (adjectives, then notable scientists).
ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
    "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "cool", "compassionate",
    "competent", "confident", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious",
    "great", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring",
    "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
    "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic",
    "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky",
    "quizzical", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy",
    "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting",
    "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial",
    "youthful", "zealous", "zen",
)
SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin",
    "babbage", "banach", "bardeen", "bartik", "bassi", "bell", "bhabha", "blackwell", "bohr", "booth",
    "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar", "chatelet",
    "chebyshev", "cohen", "curie", "darwin", "davinci", "dijkstra", "dirac", "easley", "einstein",
    "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo",
    "gauss", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hermann", "hodgkin",
    "hopper", "hypatia", "jackson", "jennings", "johnson", "kalam", "keller", "kepler", "khorana",
    "kilby", "knuth", "kowalevski", "lamarr", "lamport", "leakey", "leavitt", "lovelace", "lumiere",
    "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "mestorf", "mirzakhani", "montalcini",
    "moore", "morse", "napier", "nash", "newton", "nobel", "noether", "northcutt", "noyce", "pascal",
    "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy", "ramanujan", "ride", "ritchie",
    "rosalind", "sammet", "shannon", "shaw", "shockley", "sinoussi", "snyder", "spence", "stonebraker",
    "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "visvesvaraya", "volhard",
    "wescoff", "wilbur", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def new_id():
    return binascii.hexlify(os.urandom(32)).decode()


def generate_name(taken):
    """A docker-style name not in `taken`; a digit is appended after a few collisions, as moby does."""
    for attempt in range(10):
        name = "%s_%s" % (random.choice(ADJECTIVES), random.choice(SURNAMES))
        if attempt > 3:
            name += str(random.randint(0, 9))
        if name not in taken:
            return name
    return "yard_" + new_id()[:12]


def check_name(name):
    """The name without docker's leading slash; ValueError for a name docker refuses."""
    if not VALID_NAME.match(name):
        raise ValueError("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" % name)
    return name.lstrip("/")
