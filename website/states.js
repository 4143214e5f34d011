// State names for headings and the results filter; the API speaks postal codes.

const EN = {
  AL: "Alabama", AK: "Alaska", AZ: "Arizona", AR: "Arkansas", CA: "California", CO: "Colorado",
  CT: "Connecticut", DE: "Delaware", DC: "District of Columbia", FL: "Florida", GA: "Georgia",
  HI: "Hawaii", ID: "Idaho", IL: "Illinois", IN: "Indiana", IA: "Iowa", KS: "Kansas", KY: "Kentucky",
  LA: "Louisiana", ME: "Maine", MD: "Maryland", MA: "Massachusetts", MI: "Michigan", MN: "Minnesota",
  MS: "Mississippi", MO: "Missouri", MT: "Montana", NE: "Nebraska", NV: "Nevada", NH: "New Hampshire",
  NJ: "New Jersey", NM: "New Mexico", NY: "New York", NC: "North Carolina", ND: "North Dakota",
  OH: "Ohio", OK: "Oklahoma", OR: "Oregon", PA: "Pennsylvania", RI: "Rhode Island",
  SC: "South Carolina", SD: "South Dakota", TN: "Tennessee", TX: "Texas", UT: "Utah", VT: "Vermont",
  VA: "Virginia", WA: "Washington", WV: "West Virginia", WI: "Wisconsin", WY: "Wyoming",
};

const ES = {
  DC: "Distrito de Columbia", HI: "Hawái", LA: "Luisiana", MS: "Misisipi", NH: "Nuevo Hampshire",
  NJ: "Nueva Jersey", NM: "Nuevo México", NY: "Nueva York", NC: "Carolina del Norte",
  ND: "Dakota del Norte", PA: "Pensilvania", SC: "Carolina del Sur", SD: "Dakota del Sur",
  VA: "Virginia", WV: "Virginia Occidental",
};

/** The state's name in lang, falling back to the postal code for anything unknown. */
export function stateName(code, lang) {
  return (lang === "es" && ES[code]) || EN[code] || code;
}
