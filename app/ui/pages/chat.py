from app.ui.chat import render

render()
