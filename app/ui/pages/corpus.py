from app.ui.corpus import render

render()
