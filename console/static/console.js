// Progressive enhancement only: every action works without JavaScript.
import { initAll } from "/static/govuk/govuk-frontend.min.js";
document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

// The queue refreshes itself, unless the reviewer is in the middle of something.
const refresh = document.querySelector("[data-refresh]");
if (refresh) {
  const seconds = Number(refresh.getAttribute("data-refresh")) || 60;
  setInterval(() => {
    const busy = document.querySelector("input:checked") ||
      (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName));
    if (!busy) window.location.reload();
  }, seconds * 1000);
}

// The queue: one box ticks every sure match on the page (each can still be unticked).
const all = document.querySelector("[data-select-all]");
if (all) {
  all.hidden = false;
  const boxes = () => document.querySelectorAll("input[name='ids']");
  all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
}
