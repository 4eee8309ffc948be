from app.ui.viewer import render

render()
