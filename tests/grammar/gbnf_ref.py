"""An independent GBNF recognizer for the tests: its own parser of the syntax in
llama.cpp's grammars/README.md and a memoized set-of-end-positions matcher.

It shares no code or data structures with src/sample/grammar_*.c: the tests check the
library's sampled text with it. match(text) says whether text is a whole sentence
("sentence"), a proper prefix of one ("prefix"), or neither ("no").
"""
import sys

PARTIAL = -1  # "ran out of text while still matching": the text is a viable prefix

sys.setrecursionlimit(20000)


class GbnfError(Exception):
    pass


class Parser:
    def __init__(self, text):
        self.s = text
        self.i = 0
        self.rules = {}

    def error(self, msg):
        raise GbnfError(f"{msg} at offset {self.i}")

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def ws(self, newlines):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] not in "\r\n":
                    self.i += 1
            else:
                break

    def name(self):
        j = self.i
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] in "-_"):
            self.i += 1
        if j == self.i:
            self.error("expected a name")
        return self.s[j:self.i]

    def char(self):
        c = self.peek()
        if not c:
            self.error("unexpected end")
        self.i += 1
        if c != "\\":
            return ord(c)
        e = self.peek()
        self.i += 1
        simple = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45, "^": 94, "'": 39}
        if e in simple:
            return simple[e]
        digits = {"x": 2, "u": 4, "U": 8}.get(e)
        if not digits:
            self.error("bad escape")
        v = int(self.s[self.i:self.i + digits], 16)
        self.i += digits
        return v

    def grammar(self):
        self.ws(True)
        while self.i < len(self.s):
            n = self.name()
            self.ws(False)
            if not self.s.startswith("::=", self.i):
                self.error("expected ::=")
            self.i += 3
            self.ws(True)
            self.rules[n] = self.alternates(False)
            self.ws(True)
        return self.rules

    def alternates(self, nested):
        alts = [self.sequence(nested)]
        while self.peek() == "|":
            self.i += 1
            self.ws(True)
            alts.append(self.sequence(nested))
        return ("alt", alts)

    def sequence(self, nested):
        items = []
        while True:
            c = self.peek()
            if c == '"':
                self.i += 1
                chars = []
                while self.peek() != '"':
                    chars.append(chr(self.char()))
                self.i += 1
                item = ("lit", "".join(chars))
            elif c == "[":
                self.i += 1
                neg = self.peek() == "^"
                if neg:
                    self.i += 1
                ranges = []
                while self.peek() != "]":
                    lo = self.char()
                    hi = lo
                    if self.peek() == "-" and self.s[self.i + 1] != "]":
                        self.i += 1
                        hi = self.char()
                    ranges.append((lo, hi))
                self.i += 1
                item = ("cls", neg, ranges)
            elif c == ".":
                self.i += 1
                item = ("cls", True, [])
            elif c == "(":
                self.i += 1
                self.ws(True)
                item = self.alternates(True)
                if self.peek() != ")":
                    self.error("expected )")
                self.i += 1
            elif c and (c.isalnum() or c in "-_"):
                item = ("ref", self.name())
            else:
                return ("seq", items)
            self.ws(nested)
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                item = ("rep", item, 1 if c == "+" else 0, 1 if c == "?" else None)
            elif c == "{":
                j = self.s.index("}", self.i)
                body = self.s[self.i + 1:j].replace(" ", "")
                self.i = j + 1
                if "," in body:
                    a, b = body.split(",")
                    item = ("rep", item, int(a or 0), int(b) if b else None)
                else:
                    item = ("rep", item, int(body), int(body))
            self.ws(nested)
            items.append(item)


class Recognizer:
    def __init__(self, gbnf, root="root"):
        self.rules = Parser(gbnf).grammar()
        if root not in self.rules:
            raise GbnfError("no root rule")
        self.root = root

    def match(self, text):
        self.t = text
        self.memo = {}
        ends = self.m(("ref", self.root), 0)
        if len(text) in ends:
            return "sentence"
        return "prefix" if PARTIAL in ends else "no"

    def m(self, node, pos):
        """Set of positions where node can end when started at pos (PARTIAL: it can
        still be matching when the text runs out)."""
        kind = node[0]
        t = self.t
        if kind == "lit":
            s = node[1]
            for k, ch in enumerate(s):
                if pos + k == len(t):
                    return {PARTIAL}
                if t[pos + k] != ch:
                    return set()
            return {pos + len(s)}
        if kind == "cls":
            if pos == len(t):
                return {PARTIAL}
            cp = ord(t[pos])
            inside = any(lo <= cp <= hi for lo, hi in node[2])
            return {pos + 1} if inside != node[1] else set()
        if kind == "ref":
            key = (node[1], pos)
            if key not in self.memo:
                self.memo[key] = set()  # no left recursion in valid grammars
                self.memo[key] = self.m(self.rules[node[1]], pos)
            return self.memo[key]
        if kind == "alt":
            out = set()
            for a in node[1]:
                out |= self.m(a, pos)
            return out
        if kind == "seq":
            cur = {pos}
            out_partial = False
            for item in node[1]:
                nxt = set()
                for p in cur:
                    r = self.m(item, p)
                    if PARTIAL in r:
                        out_partial = True
                    nxt |= r - {PARTIAL}
                cur = nxt
                if not cur:
                    break
            return cur | ({PARTIAL} if out_partial else set())
        if kind == "rep":
            _, item, lo, hi = node
            out = set()
            frontier = {pos}
            seen = set()
            count = 0
            while frontier and (hi is None or count <= hi):
                if count >= lo:
                    out |= frontier
                if hi is not None and count == hi:
                    break
                nxt = set()
                for p in frontier:
                    r = self.m(item, p)
                    if PARTIAL in r:
                        out.add(PARTIAL)
                    nxt |= r - {PARTIAL}
                count += 1
                if hi is None:  # unbounded: stop once no new position appears
                    nxt -= seen
                    seen |= nxt
                frontier = nxt
            return out
        raise ValueError(kind)
