// Shows every <time data-local> in the reader's own time zone, without seconds. The
// server writes the same moment in UTC as the fallback (web/views/formats.py); the polls'
// fragments are localised again once htmx has swapped them in.
(function () {
  "use strict";
  var styles = {
    time: { hour: "2-digit", minute: "2-digit" },
    datetime: { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    date: { day: "numeric", month: "short", year: "numeric" }
  };
  function sameDay(a, b) { return a.toDateString() === b.toDateString(); }
  function localise(root) {
    var nodes = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute("datetime"));
      var style = styles[node.dataset.local];
      if (isNaN(when) || !style) continue;
      // A time on another day than today names the day too.
      if (node.dataset.local === "time" && !sameDay(when, new Date())) style = styles.datetime;
      var text = new Intl.DateTimeFormat(undefined, style).format(when);
      if (node.textContent !== text) node.textContent = text;
    }
  }
  localise(document);
  document.addEventListener("htmx:afterSettle", function (e) { localise(e.target); });
})();
