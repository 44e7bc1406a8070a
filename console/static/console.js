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
