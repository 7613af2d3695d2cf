// The board's words in the person's language, from the server's gettext catalogues
// (companion/server/boardwords.py serves board/messages/<lang>.json). `_`, `N_` and
// `ngettext` are the names Babel's extractor looks for: `script/translations update` puts
// every word marked here into the same catalogue as the apps'.
const CHOSEN = "companion.language"; // the person's own choice, kept in this browser
const SOURCE = "en";

let current = SOURCE;
let words = { messages: {}, plurals: {} };
let available = [];
const listeners = [];
let settled;
/** Resolves once the first choice of words has been tried (found or not). */
export const ready = new Promise((resolve) => { settled = resolve; });

/** The words for `message` in the board's language (the English itself if none). */
export function _(message) {
  return words.messages[message] || message;
}

/** Marks a table's words for the catalogue; they are translated where shown, `_(TABLE[k])`. */
export function N_(message) {
  return message;
}

/** The form for `n` ("1 minute" / "5 minutes"), by the language's own plural rule. */
export function ngettext(singular, plural, n) {
  const one = new Intl.PluralRules(current).select(n) === "one";
  const forms = words.plurals[singular];
  if (forms) return forms[one ? 0 : 1];
  return one ? singular : plural;
}

/** `format(_("Since {time}."), { time })`: the same `{name}` fields as the apps' words. */
export function format(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export function language() {
  return current;
}

export function languages() {
  return available;
}

/** A time of day, on the 24-hour clock as the apps show it (companion/i18n.py `clock`). */
export function clock(at = new Date()) {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(at);
}

/** Called (with the new language) after the page's words change. */
export function onChange(listener) {
  listeners.push(listener);
}

function savedChoice() {
  try { return localStorage.getItem(CHOSEN); } catch (_error) { return null; }
}

/** The languages to try, best first: the person's choice here, then the browser's. */
export function wanted(browser = navigator.languages ?? [navigator.language]) {
  const list = [savedChoice(), ...browser, SOURCE].filter(Boolean).map((tag) => tag.split("-")[0].toLowerCase());
  return [...new Set(list)];
}

async function fetchWords(lang) {
  if (!/^[a-z]{2,3}$/.test(lang)) return null;
  try {
    const answer = await fetch(`board/messages/${lang}.json`, { cache: "no-cache" });
    return answer.ok ? await answer.json() : null;
  } catch (_error) {
    return null; // the server away: the page keeps the words it has
  }
}

// The page's own words: each text and attribute keeps its English, so a change of
// language can put the new words in the same places.
const pageTexts = new Map();
const ATTRIBUTES = ["placeholder", "aria-label", "title"];
const pageAttributes = [];
const fold = (text) => text.replace(/\s+/g, " ").trim();

function collectPage() {
  if (pageTexts.size || pageAttributes.length) return;
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("[translate=no], script, style")) continue;
    const text = fold(node.textContent);
    if (/[A-Za-zÀ-ÿ]{2,}/.test(text)) pageTexts.set(node, text);
  }
  for (const element of document.querySelectorAll(ATTRIBUTES.map((a) => `[${a}]`).join(","))) {
    if (element.closest("[translate=no]")) continue;
    for (const name of ATTRIBUTES) {
      const text = fold(element.getAttribute(name) ?? "");
      if (/[A-Za-zÀ-ÿ]{2,}/.test(text)) pageAttributes.push([element, name, text]);
    }
  }
}

function translatePage() {
  for (const [node, english] of pageTexts) {
    if (node.isConnected) node.textContent = _(english);
  }
  for (const [element, name, english] of pageAttributes) element.setAttribute(name, _(english));
  document.documentElement.lang = current;
}

/** Use `lang`'s words (the first of `choices` the server has); true if it did. */
export async function use(choices) {
  try {
    return await useFirst(choices);
  } finally {
    settled();
  }
}

async function useFirst(choices) {
  collectPage();
  for (const lang of choices) {
    const found = await fetchWords(lang);
    if (found === null) continue;
    current = found.language;
    words = { messages: found.messages ?? {}, plurals: found.plurals ?? {} };
    available = found.languages ?? available;
    translatePage();
    for (const listener of listeners) listener(current);
    return true;
  }
  return false;
}

/** The person picked a language: remembered in this browser, used at once. */
export async function choose(lang) {
  try { localStorage.setItem(CHOSEN, lang); } catch (_error) { /* private mode: this page only */ }
  return use([lang]);
}
