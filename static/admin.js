// The operations dashboard's one script (loaded by templates/admin/_nav.html; the CSP
// allows no inline script). It pauses the overview's polling: by the "Pause auto-refresh"
// button, and by itself while a form field has focus, so an operator typing is never
// interrupted. htmx asks before each poll (htmx:beforeRequest); cancelling it skips one.
(function () {
  "use strict";
  var paused = false;

  function typing() {
    var el = document.activeElement;
    return !!el && el.matches("input, select, textarea, [contenteditable]");
  }

  function show(button, state) {
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    if (state) {
      state.textContent = paused ? "Auto-refresh is paused." : "";
    }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (source && source.hasAttribute("data-autorefresh") && (paused || typing())) {
      event.preventDefault();
    }
  });

  // A table wider than its box says so: the line before it (.scroll-hint) shows.
  function markOverflow() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      var hint = box.previousElementSibling;
      if (hint && hint.classList.contains("scroll-hint")) {
        hint.toggleAttribute("data-overflows", box.scrollWidth > box.clientWidth + 1);
      }
    });
  }
  window.addEventListener("resize", markOverflow);
  document.addEventListener("htmx:afterSwap", markOverflow);
  document.addEventListener("DOMContentLoaded", markOverflow);

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("autorefresh");
    if (!button) {
      return;
    }
    var state = document.getElementById("autorefresh-state");
    button.hidden = false;
    button.addEventListener("click", function () {
      paused = !paused;
      show(button, state);
    });
    show(button, state);
  });
})();
