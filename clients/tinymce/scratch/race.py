import asyncio, sys, json, random
from playwright.async_api import async_playwright
ARGS=["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync"]
PORT=int(sys.argv[1]); DOC=sys.argv[2]
async def main():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        pages=[]
        for user in ("alice","bob"):
            ctx = await b.new_context()
            p = await ctx.new_page()
            p.on("console", lambda m, u=user: print(u, "console:", m.type, m.text[:300]))
            p.on("pageerror", lambda e, u=user: print(u, "PAGEERROR:", e))
            await p.goto(f"http://localhost:{PORT}/?user={user}&doc={DOC}")
            await p.wait_for_function(f"(() => {{ const e = tinymce.get('editor-{user}'); return e && e.plugins.rtc && e.plugins.rtc.getState().synced && e.plugins.rtc.getState().editable; }})()", timeout=20000)
            pages.append((p,user))
        # both put caret at end of first paragraph
        for p,user in pages:
            await p.evaluate(f"""() => {{ const ed = tinymce.get('editor-{user}'); ed.focus(); const p = ed.getBody().firstChild; ed.selection.select(p, true); ed.selection.collapse(false); }}""")
        async def typ(p, text):
            await p.keyboard.type(text, delay=20)
        await asyncio.gather(typ(pages[0][0], " one two three four"), typ(pages[1][0], " five six seven eight"))
        await asyncio.sleep(1.5)
        for p,user in pages:
            html = await p.evaluate(f"async () => {{ const r = tinymce.get('editor-{user}').plugins.rtc; await r.flush(); return [r.getCanonicalContent(), JSON.stringify(r.getStats()), tinymce.get('editor-{user}').getBody().innerHTML]; }}")
            print(user, html)
        await asyncio.sleep(3)
        for p,user in pages:
            html = await p.evaluate(f"async () => {{ const r = tinymce.get('editor-{user}').plugins.rtc; return [r.getCanonicalContent().length, JSON.stringify(r.getStats())]; }}")
            print(user, html)
        await b.close()
asyncio.run(main())
