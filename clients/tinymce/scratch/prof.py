import asyncio, sys, json, time
from playwright.async_api import async_playwright
ARGS=["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync"]
PORT=int(sys.argv[1])
async def main():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        doc=f"prof{int(time.time())}"
        pages=[]
        for user in ("alice","bob"):
            ctx = await b.new_context(); p = await ctx.new_page()
            await p.goto(f"http://localhost:{PORT}/?user={user}&doc={doc}")
            await p.wait_for_function(f"(() => {{ const e = tinymce.get('editor-{user}'); return e && e.plugins.rtc && e.plugins.rtc.getState().synced; }})()")
            pages.append(p)
        js = """(user) => {
          const ed = tinymce.get('editor-' + user);
          const io = ed.plugins.rtc.__io || null;
          const body = ed.getBody(); const p = body.querySelector('p');
          const N = 200; const t0 = performance.now();
          for (let i = 0; i < N; i++) { const w = ed.getDoc().createElement('div'); w.appendChild(p.cloneNode(true)); ed.serializer.serialize(w, {getInner: true}); }
          const t1 = performance.now();
          for (let i = 0; i < N; i++) { const ast = ed.parser.parse('<p>Type in either editor: the other follows live.</p>', {isRootContent: true, insert: true}); tinymce.html.Serializer({validate: false}, ed.schema).serialize(ast); }
          const t2 = performance.now();
          for (let i = 0; i < N; i++) { new DOMParser().parseFromString('<!DOCTYPE html><body><p>Type in either editor: the other follows live.</p></body>', 'text/html'); }
          const t3 = performance.now();
          return {serialize: (t1-t0)/N, parse: (t2-t1)/N, domparser: (t3-t2)/N};
        }"""
        print(await pages[0].evaluate(js, 'alice'))
        await b.close()
asyncio.run(main())
