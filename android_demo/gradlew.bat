@rem Gradle launcher for this project on Windows. With gradle\wrapper\gradle-wrapper.jar present (`gradle wrapper`
@rem writes it) this runs the standard Gradle wrapper; the jar is a binary and is not checked in.
@echo off
setlocal
set APP_HOME=%~dp0
set WRAPPER_JAR=%APP_HOME%gradle\wrapper\gradle-wrapper.jar
set JAVA_EXE=java.exe
if defined JAVA_HOME set JAVA_EXE=%JAVA_HOME%\bin\java.exe

if not exist "%WRAPPER_JAR%" (
    echo gradlew: %WRAPPER_JAR% is not checked in. Build from Android Studio ^(it reads 1>&2
    echo gradle\wrapper\gradle-wrapper.properties itself^), or run "gradle wrapper --gradle-version 9.4.1" once with 1>&2
    echo any Gradle installation, or run ./gradlew from Git Bash or WSL, which fetches Gradle itself. 1>&2
    exit /b 1
)
"%JAVA_EXE%" -Xmx64m -Xms64m %JAVA_OPTS% %GRADLE_OPTS% "-Dorg.gradle.appname=gradlew" -classpath "%WRAPPER_JAR%" org.gradle.wrapper.GradleWrapperMain %*
exit /b %ERRORLEVEL%
