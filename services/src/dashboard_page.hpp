// The dashboard's single page (HTML, CSS, plain JS) as a string: no build step, no external
// resources, works offline. It reads the token from its own URL (/?token=T) and sends it with
// every request; it updates from /api/events (EventSource).
#pragma once

namespace kin::services::detail {

inline constexpr const char* dashboard_page = R"KINPAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kin supervise</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
h1{font-size:1.3em}h2{font-size:1.05em;margin:.8em 0 .3em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:3px 6px;font-size:.9em;text-align:left}
th{background:#eee}tr.sel{outline:2px solid #48f}
.RUNNING{color:#080;font-weight:bold}.STARTING,.BACKOFF,.STOPPING{color:#b70}
.FATAL{color:#c00;font-weight:bold}.STOPPED,.EXITED{color:#666}
#cols{display:flex;gap:1em}#cols>div{flex:1;min-width:0}
pre{background:#111;color:#ddd;padding:6px;max-height:18em;overflow:auto;font-size:.8em}
ul{margin:0;padding-left:1.2em;font-size:.9em}#timeline{max-height:18em;overflow:auto}
#conn{font-size:.8em;color:#888}
</style></head><body>
<h1>kin supervise <span id="conn">connecting…</span></h1>
<h2>Services</h2>
<table id="status"><thead><tr><th>NAME</th><th>STATE</th><th>READY</th><th>PID</th><th>UPTIME</th>
<th>RESTARTS</th><th>LAST-EXIT</th><th>CPU%</th><th>RSS</th><th>ACTIONS</th></tr></thead><tbody></tbody></table>
<div id="cols">
<div><h2>Tree</h2><ul id="tree"></ul></div>
<div><h2>Timeline</h2><ul id="timeline"></ul></div>
</div>
<h2>Log: <span id="logname">(click a row)</span></h2><pre id="log"></pre>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const q = token ? "token=" + encodeURIComponent(token) : "";
const withToken = u => q ? u + (u.includes("?") ? "&" : "?") + q : u;
let selected = null;
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
function dur(ms){ if(!ms) return "-"; let s=Math.floor(ms/1000);
  if(s<60) return s+"s"; if(s<3600) return Math.floor(s/60)+"m"+(s%60)+"s";
  return Math.floor(s/3600)+"h"+Math.floor(s%3600/60)+"m"; }
function bytes(b){ if(!b) return "-"; const u=["B","K","M","G"]; let i=0;
  while(b>=1024&&i<3){b/=1024;i++;} return b.toFixed(i?1:0)+u[i]; }
function renderStatus(rows){
  const tb=document.querySelector("#status tbody"); tb.innerHTML="";
  for(const s of rows){
    const tr=document.createElement("tr"); tr.dataset.name=s.name;
    if(s.name===selected) tr.className="sel";
    tr.innerHTML=`<td class="name">${esc(s.name)}</td><td class="state ${esc(s.state)}">${esc(s.state)}</td>
<td class="ready">${s.ready?"yes":"no"}</td><td class="pid">${s.pid||"-"}</td><td class="uptime">${dur(s.uptime_ms)}</td>
<td class="restarts">${s.restarts}</td><td class="last-exit">${esc(s.last_exit||"-")}</td>
<td class="cpu">${s.cpu_percent.toFixed(1)}</td><td class="rss">${bytes(s.rss_bytes)}</td><td class="actions">`+
      ["start","stop","restart"].map(a=>`<button data-action="${a}" data-name="${esc(s.name)}">${a}</button>`).join(" ")+"</td>";
    tr.addEventListener("click",e=>{ if(e.target.tagName!=="BUTTON"){ selected=s.name; loadLog(); renderStatus(rows);} });
    tb.appendChild(tr);
  }
  renderTree(rows);
}
function renderTree(rows){
  const groups=new Map();
  for(const s of rows){ const g=s.group||"(top)"; if(!groups.has(g)) groups.set(g,new Map());
    const sv=groups.get(g); if(!sv.has(s.service)) sv.set(s.service,[]); sv.get(s.service).push(s); }
  let h="";
  for(const [g,sv] of groups){ h+=`<li data-group="${esc(g)}">${esc(g)}<ul>`;
    for(const [name,inst] of sv){ h+=`<li data-service="${esc(name)}">${esc(name)}<ul>`;
      for(const i of inst) h+=`<li data-instance="${esc(i.name)}">${esc(i.name)} <span class="${esc(i.state)}">${esc(i.state)}</span></li>`;
      h+="</ul></li>"; }
    h+="</ul></li>"; }
  document.getElementById("tree").innerHTML=h;
}
function addEvent(e, top){
  const li=document.createElement("li");
  li.textContent=`${new Date(e.at_ms).toLocaleTimeString()} ${e.name} ${e.event}${e.pid?" pid "+e.pid:""}${e.detail?" ("+e.detail+")":""}`;
  const ul=document.getElementById("timeline");
  if(top) ul.insertBefore(li,ul.firstChild); else ul.appendChild(li);
  while(ul.children.length>200) ul.removeChild(ul.lastChild);
}
async function loadLog(){
  if(!selected) return;
  document.getElementById("logname").textContent=selected;
  const r=await fetch(withToken("/api/logs/"+encodeURIComponent(selected)+"?n=100"));
  const j=r.ok?await r.json():[];
  document.getElementById("log").textContent=j.join("\n");
}
document.addEventListener("click",async e=>{
  const b=e.target.closest("button[data-action]"); if(!b) return;
  const r=await fetch("/api/services/"+encodeURIComponent(b.dataset.name)+"/"+b.dataset.action,
    {method:"POST",headers:{"Authorization":"Bearer "+token}});
  if(!r.ok) alert(b.dataset.action+" "+b.dataset.name+": HTTP "+r.status);
});
async function init(){
  const t=await fetch(withToken("/api/timeline?n=100")); if(t.ok){ const ev=await t.json(); ev.reverse().forEach(e=>addEvent(e,false)); }
  const s=await fetch(withToken("/api/status")); if(s.ok) renderStatus(await s.json());
  const es=new EventSource(withToken("/api/events"));
  es.onopen=()=>document.getElementById("conn").textContent="live";
  es.onerror=()=>document.getElementById("conn").textContent="reconnecting…";
  es.onmessage=m=>{ const d=JSON.parse(m.data);
    if(d.type==="status") renderStatus(d.status); else { addEvent(d,true); if(d.name===selected) loadLog(); } };
  setInterval(loadLog,2000);
}
init();
</script></body></html>
)KINPAGE";

}  // namespace kin::services::detail
