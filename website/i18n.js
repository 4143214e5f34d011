// The page's words in English and Spanish. Keys are used by data-i18n attributes in
// index.html and by app.js for messages; {name} placeholders are filled in by t().

export const STRINGS = {
  en: {
    "site.title": "National election",
    "nav.vote": "Vote",
    "nav.receipt": "Check a receipt",
    "nav.results": "Results",
    "lang.switch": "Español",
    "lang.switch.label": "Ver esta página en español",
    "loading": "Loading…",
    "config.failed": "The voting page could not load its settings. Please reload the page.",

    "id.heading": "Cast your vote",
    "id.label": "Your voter ID",
    "id.hint": "20 letters and digits from your letter, like 7KQ2M-XW3PA-9RT4D-HN8VB. Spaces, dashes and lower case are fine.",
    "id.submit": "Continue",
    "id.empty": "Please type your voter ID.",
    "id.badchars": "A voter ID never contains {chars}. Please check your letter.",
    "id.length": "A voter ID has 20 letters and digits; you typed {n}.",
    "id.unknown": "We could not find this voter ID. Please check it against your letter.",
    "id.checking": "Checking your voter ID…",

    "ballot.heading": "Your ballot for {state}",
    "ballot.legend": "Choose one candidate",
    "ballot.review": "Review my choice",
    "ballot.back": "Use another voter ID",
    "ballot.none": "Please choose a candidate.",

    "review.heading": "Check your choice",
    "review.choice": "You are voting for",
    "review.state": "Ballot of {state}",
    "review.warning": "Once cast, your vote cannot be changed.",
    "review.confirm": "Cast my vote",
    "review.change": "Change my choice",
    "review.sending": "Sending your vote…",

    "done.heading": "Your vote is recorded",
    "done.receipt": "Your receipt",
    "done.keep": "Keep this receipt to check later that your vote was counted. It does not reveal your choice.",
    "done.copy": "Copy receipt",
    "done.copied": "Receipt copied.",
    "done.copyfail": "Could not copy; please select the receipt and copy it by hand.",
    "done.check": "Check this receipt later",
    "done.noreceipt": "Your vote was recorded, but the connection dropped before your receipt arrived.",
    "done.next": "Finish and clear this page",

    "already.heading": "You have already voted",
    "already.text": "A vote has already been recorded for this voter ID. Each voter can vote once.",
    "closed.heading": "The polls are closed",
    "closed.text": "Votes can no longer be cast. You can still follow the results.",
    "network.heading": "Connection trouble",
    "network.text": "We could not reach the election service. Nothing you entered is lost; please try again.",
    "network.retry": "Try again",
    "uncertain.text": "We could not confirm that your vote arrived. We will check before sending anything again.",
    "invalid.candidate": "This candidate is not on your state's ballot. Please choose again.",
    "error.generic": "Something went wrong: {message}",
    "again": "Start again",

    "receipt.heading": "Check a receipt",
    "receipt.label": "Receipt",
    "receipt.hint": "32 characters, digits and the letters a to f.",
    "receipt.submit": "Check",
    "receipt.bad": "A receipt has 32 characters, digits and the letters a to f.",
    "receipt.checking": "Checking the receipt…",
    "receipt.recorded": "Recorded: this ballot is stored and will be counted shortly.",
    "receipt.counted": "Counted: this ballot is included in the results.",
    "receipt.unknown": "Unknown: no ballot has this receipt. If you just voted, wait a minute and check again.",

    "results.heading": "Results",
    "results.national": "National totals",
    "results.states": "Results by state",
    "results.filter": "Show state",
    "results.allstates": "All states",
    "results.updated": "Last updated {time}",
    "results.never": "Not updated yet",
    "results.pause": "Pause live updates",
    "results.resume": "Resume live updates",
    "results.live": "Updates every {s} seconds.",
    "results.paused": "Live updates paused.",
    "results.total": "{n} votes",
    "results.total.one": "1 vote",
    "results.votes": "{n} votes, {p}",
    "results.votes.one": "1 vote, {p}",
    "results.failed": "Could not refresh the results; showing the last ones received.",
  },
  es: {
    "site.title": "Elección nacional",
    "nav.vote": "Votar",
    "nav.receipt": "Comprobar un recibo",
    "nav.results": "Resultados",
    "lang.switch": "English",
    "lang.switch.label": "View this page in English",
    "loading": "Cargando…",
    "config.failed": "La página de votación no pudo cargar su configuración. Vuelva a cargar la página.",

    "id.heading": "Emita su voto",
    "id.label": "Su identificador de votante",
    "id.hint": "20 letras y cifras de su carta, como 7KQ2M-XW3PA-9RT4D-HN8VB. Puede usar espacios, guiones y minúsculas.",
    "id.submit": "Continuar",
    "id.empty": "Escriba su identificador de votante.",
    "id.badchars": "Un identificador de votante nunca contiene {chars}. Revise su carta.",
    "id.length": "Un identificador de votante tiene 20 letras y cifras; usted escribió {n}.",
    "id.unknown": "No encontramos este identificador de votante. Compárelo con su carta.",
    "id.checking": "Comprobando su identificador…",

    "ballot.heading": "Su papeleta de {state}",
    "ballot.legend": "Elija un candidato",
    "ballot.review": "Revisar mi elección",
    "ballot.back": "Usar otro identificador",
    "ballot.none": "Elija un candidato.",

    "review.heading": "Revise su elección",
    "review.choice": "Usted vota por",
    "review.state": "Papeleta de {state}",
    "review.warning": "Una vez emitido, su voto no se puede cambiar.",
    "review.confirm": "Emitir mi voto",
    "review.change": "Cambiar mi elección",
    "review.sending": "Enviando su voto…",

    "done.heading": "Su voto está registrado",
    "done.receipt": "Su recibo",
    "done.keep": "Guarde este recibo para comprobar más tarde que su voto se contó. No revela su elección.",
    "done.copy": "Copiar recibo",
    "done.copied": "Recibo copiado.",
    "done.copyfail": "No se pudo copiar; seleccione el recibo y cópielo a mano.",
    "done.check": "Comprobar este recibo más tarde",
    "done.noreceipt": "Su voto quedó registrado, pero la conexión se cortó antes de recibir su recibo.",
    "done.next": "Terminar y borrar esta página",

    "already.heading": "Usted ya ha votado",
    "already.text": "Ya hay un voto registrado con este identificador. Cada votante vota una sola vez.",
    "closed.heading": "Las urnas están cerradas",
    "closed.text": "Ya no se pueden emitir votos. Puede seguir los resultados.",
    "network.heading": "Problema de conexión",
    "network.text": "No pudimos contactar con el servicio electoral. No se pierde nada de lo que escribió; inténtelo de nuevo.",
    "network.retry": "Reintentar",
    "uncertain.text": "No pudimos confirmar que su voto llegó. Lo comprobaremos antes de enviar nada otra vez.",
    "invalid.candidate": "Este candidato no figura en la papeleta de su estado. Elija de nuevo.",
    "error.generic": "Algo salió mal: {message}",
    "again": "Empezar de nuevo",

    "receipt.heading": "Comprobar un recibo",
    "receipt.label": "Recibo",
    "receipt.hint": "32 caracteres: cifras y las letras de la a a la f.",
    "receipt.submit": "Comprobar",
    "receipt.bad": "Un recibo tiene 32 caracteres: cifras y las letras de la a a la f.",
    "receipt.checking": "Comprobando el recibo…",
    "receipt.recorded": "Registrado: esta papeleta está guardada y se contará en breve.",
    "receipt.counted": "Contado: esta papeleta está incluida en los resultados.",
    "receipt.unknown": "Desconocido: ninguna papeleta tiene este recibo. Si acaba de votar, espere un minuto y vuelva a comprobar.",

    "results.heading": "Resultados",
    "results.national": "Totales nacionales",
    "results.states": "Resultados por estado",
    "results.filter": "Mostrar estado",
    "results.allstates": "Todos los estados",
    "results.updated": "Última actualización {time}",
    "results.never": "Aún sin actualizar",
    "results.pause": "Pausar actualización",
    "results.resume": "Reanudar actualización",
    "results.live": "Se actualiza cada {s} segundos.",
    "results.paused": "Actualización en pausa.",
    "results.total": "{n} votos",
    "results.total.one": "1 voto",
    "results.votes": "{n} votos, {p}",
    "results.votes.one": "1 voto, {p}",
    "results.failed": "No se pudieron actualizar los resultados; se muestran los últimos recibidos.",
  },
};

const KEY = "election.lang";

/** The remembered language, else the browser's if we have it, else English. */
export function initialLang(storage = window.localStorage, nav = window.navigator) {
  let saved = null;
  try { saved = storage.getItem(KEY); } catch { /* storage may be disabled */ }
  if (saved && STRINGS[saved]) return saved;
  const pref = (nav.language || "en").slice(0, 2).toLowerCase();
  return STRINGS[pref] ? pref : "en";
}

export function rememberLang(lang, storage = window.localStorage) {
  try { storage.setItem(KEY, lang); } catch { /* not fatal: the choice lasts this visit */ }
}

/** Translate key into lang, filling {placeholders} from vars. */
export function translate(lang, key, vars = {}) {
  const text = (STRINGS[lang] && STRINGS[lang][key]) ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}
