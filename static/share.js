// The share link's Copy and Share buttons. Both start hidden: without JavaScript, or
// where the browser lacks the API, the plain link (selectable text) is all there is.
(function () {
  "use strict";
  var box = document.querySelector("[data-share-link]");
  if (!box) return;
  var input = box.querySelector("input");
  var copy = box.querySelector("button.copy");
  var share = box.querySelector("button.share");
  var status = box.querySelector(".copy-status");
  var hint = box.querySelector(".select-hint");

  input.addEventListener("focus", function () { input.select(); });

  if (navigator.clipboard && window.isSecureContext) {
    copy.hidden = false;
    if (hint) hint.hidden = true;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(
        function () { status.textContent = "Link copied."; },
        function () { input.select(); status.textContent = "Press Ctrl+C (⌘C) to copy the selected link."; }
      );
    });
  }
  if (navigator.share) {
    share.hidden = false;
    share.addEventListener("click", function () {
      navigator.share({ title: share.dataset.title, text: share.dataset.text, url: input.value })
        .catch(function () { /* closed without sharing: nothing to say */ });
    });
  }
})();
